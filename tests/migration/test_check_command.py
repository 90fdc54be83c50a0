"""``pop3d-migrate check`` against a real Dovecot and a real pop3d serving the same maildrops."""

from __future__ import annotations

import os

import pytest
from dovecot_kit import give_to_mail, running_dovecot
from migration_kit import PASSWORD, make_maildir, make_mbox, message, run_check, table_row
from tls_kit import make_certificate, server_with_tls_port

from pop3d.migrate.compare import compare

pytestmark = pytest.mark.slow


def shared_maildrops(shared_dir: str) -> dict[str, str]:
    """alice: a Maildir, bob: an mbox; one copy, read by both servers."""
    root = f"{shared_dir}/mail"
    make_maildir(f"{root}/alice/Maildir", {
        "cur/1764460800.M1P10.mx:2,S": message("first"),
        "cur/1764460900.M2P10.mx:2,": message("second"),
        "new/1764461000.M3P10.mx": message("third"),
    })
    os.makedirs(f"{root}/bob-folders")
    make_mbox(f"{root}/bob.mbox", [message("one"), message("two")])
    give_to_mail(root)
    return {"alice": f"{root}/alice/Maildir", "bob": f"{root}/bob.mbox"}


def dovecot_users(paths: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {"alice": (PASSWORD, f"maildir:{paths['alice']}"),
            "bob": (PASSWORD, f"mbox:{os.path.dirname(paths['bob'])}/bob-folders:INBOX={paths['bob']}")}


def pop3d_users(paths: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"alice": {"password": PASSWORD, "maildrop": f"maildir:{paths['alice']}"},
            "bob": {"password": PASSWORD, "maildrop": f"mbox:{paths['bob']}"}}


def test_check_reports_every_message_a_client_would_download_again(make_server, tmp_path, shared_dir):
    paths = shared_maildrops(shared_dir)
    server = make_server(pop3d_users(paths))
    with running_dovecot(f"{shared_dir}/dovecot", dovecot_users(paths)) as dovecot:
        result = run_check(str(tmp_path), dovecot.port, server.port, ["alice", "bob"])
    assert result.returncode == 1, result.stdout + result.stderr
    # Dovecot's %08Xu%08Xv against pop3d's own UIDLs: nothing matches.
    assert table_row(result.stdout, "alice")[1:8] == ["3", "3", "0", "3", "3", "0", "CHANGED"]
    assert table_row(result.stdout, "bob")[1:8] == ["2", "2", "0", "2", "2", "0", "CHANGED"]
    assert "2 would see a change (5 messages downloaded again" in result.stdout


def test_check_passes_when_the_uidls_are_kept(make_server, tmp_path, shared_dir):
    # Dovecot configured to send Maildir base names sends what pop3d sends by default.
    paths = shared_maildrops(shared_dir)
    server = make_server(pop3d_users(paths))
    with running_dovecot(f"{shared_dir}/dovecot", dovecot_users(paths), {"pop3_uidl_format": "%f"}) as dc:
        result = run_check(str(tmp_path), dc.port, server.port, ["alice"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_row(result.stdout, "alice")[1:8] == ["3", "3", "3", "0", "0", "0", "ok"]
    assert "no client would see a change" in result.stdout


def test_check_fails_a_user_it_cannot_log_in(make_server, tmp_path, shared_dir):
    paths = shared_maildrops(shared_dir)
    users = pop3d_users(paths)
    users["alice"]["password"] = "another password"
    server = make_server(users)
    with running_dovecot(f"{shared_dir}/dovecot", dovecot_users(paths), {"pop3_uidl_format": "%f"}) as dc:
        result = run_check(str(tmp_path), dc.port, server.port, ["alice"])
    assert result.returncode == 2
    assert "ERROR: new server:" in result.stdout and "refused the login" in result.stdout


def test_check_speaks_tls_to_both_servers(tmp_path, shared_dir):
    # Old and new are both pop3d here: STLS on its plain port, and its implicit-TLS port.
    paths = shared_maildrops(shared_dir)
    cert = make_certificate(str(tmp_path / "tls"))
    with server_with_tls_port(str(tmp_path), pop3d_users(paths), cert) as (server, tls_port):
        result = run_check(str(tmp_path), server.port, tls_port, ["alice", "bob"], "--old-tls", "stls",
                           "--new-tls", "implicit", "--ca-file", cert.certificate)
        unverified = run_check(str(tmp_path), server.port, tls_port, ["alice"], "--new-tls", "implicit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_row(result.stdout, "bob")[1:8] == ["2", "2", "2", "0", "0", "0", "ok"]
    assert unverified.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in unverified.stdout


def test_compare_counts_moves_losses_and_duplicates():
    c = compare("u", ["a", "b", "c", "d"], ["b", "a", "c", "x", "x"])
    assert (c.same, c.moved, c.gone, c.redownload, c.duplicates) == (1, 2, 1, 1, 1)
    assert c.changed and c.examples == ("x",)
    assert not compare("u", ["a", "b"], ["a", "b"]).changed
