"""mbox maildrops taken over from Dovecot and UW ipop3d keep their UIDLs and message order.

For Dovecot, Debian's Dovecot itself serves the mbox first (writing its
X-IMAPbase/X-UID headers, as it does on a live system) and its UIDL listing
is recorded; then pop3d serves the same file and must answer the same.
"""

from __future__ import annotations

import os

import pytest
from dovecot_kit import give_to_mail, running_dovecot
from migration_kit import PASSWORD, make_mbox, message, run_check, uidl_listing

pytestmark = pytest.mark.slow

FOLDED = "Received: from mx.example.org\n\tby mail.example.org; Mon, 30 Nov 2026 00:00:00 +0000\n"


def dovecot_mbox(shared_dir: str) -> str:
    os.makedirs(f"{shared_dir}/folders")
    path = make_mbox(f"{shared_dir}/alice.mbox", [
        message("first", extra=FOLDED + "Date: Mon, 30 Nov 2026 00:00:00 +0000\n"),
        message("second", extra="Delivered-To: alice@example.org\n"),
        message("third", body="quoted below\n>From here\n"),
    ])
    give_to_mail(shared_dir)
    return path


def dovecot_listing(shared_dir: str, path: str, template: str | None = None) -> tuple[list[str], int]:
    settings = {"mbox_lazy_writes": "no"}
    if template:
        settings["pop3_uidl_format"] = template
    users = {"alice": (PASSWORD, f"mbox:{shared_dir}/folders:INBOX={path}")}
    with running_dovecot(f"{shared_dir}/dovecot-{len(os.listdir(shared_dir))}", users, settings) as dc:
        return uidl_listing(dc.port, "alice"), dc.port


@pytest.mark.parametrize("template", [None, "%m", "%u-%v", "%Mu.%Lg"])
def test_pop3d_sends_dovecots_mbox_uidls(make_server, shared_dir, template):
    path = dovecot_mbox(shared_dir)
    expected, _ = dovecot_listing(shared_dir, path, template)
    assert len(expected) == 3 and len(set(expected)) == 3
    style = "dovecot" if template is None else f"dovecot:{template}"
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"mbox:{path}"}},
                         {"uidl_format": {"mbox": style}})
    assert uidl_listing(server.port, "alice") == expected


def test_check_reports_no_change_from_dovecot_mbox(make_server, shared_dir, tmp_path):
    path = dovecot_mbox(shared_dir)
    users = {"alice": (PASSWORD, f"mbox:{shared_dir}/folders:INBOX={path}")}
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"mbox:{path}"}},
                         {"uidl_format": {"mbox": "dovecot"}})
    with running_dovecot(f"{shared_dir}/dovecot", users, {"mbox_lazy_writes": "no"}) as dc:
        uidl_listing(dc.port, "alice")  # Dovecot numbers the messages and writes its headers
        result = run_check(str(tmp_path), dc.port, server.port, ["alice"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no client would see a change" in result.stdout


def test_mail_delivered_after_the_switch_never_takes_an_old_uidl(make_server, shared_dir):
    path = dovecot_mbox(shared_dir)
    before, _ = dovecot_listing(shared_dir, path)
    with open(path, "ab") as f:  # delivered after the switch: no X-UID
        f.write(b"\nFrom carol@example.org Tue Dec  1 00:00:00 2026\n" + message("fourth") + b"\n")
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"mbox:{path}"}},
                         {"uidl_format": {"mbox": "dovecot"}})
    after = uidl_listing(server.port, "alice")
    assert after[:3] == before and len(after) == 4
    newest = after[3]
    assert newest not in before and not all(c in "0123456789abcdef" for c in newest)
    assert uidl_listing(server.port, "alice") == after  # and it is stable


UW_PSEUDO = (b"From: Mail System Internal Data <MAILER-DAEMON@mail.example.org>\n"
             b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
             b"X-IMAP: 1764460800 0000000012 $Forwarded\nStatus: RO\n\n"
             b"This text is part of the internal format of your mail folder, and is not\n"
             b"a real message.  It is created automatically by the mail system software.\n")


def test_pop3d_sends_uw_ipop3d_uidls_and_hides_the_folder_data(make_server, tmp_path):
    # Laid out as UW imapd leaves an mbox (src/osdep/unix/unix.c): the pseudo message
    # first, then X-UID in every message; ipop3d sends "%08lx%08lx" of UIDVALIDITY, UID.
    path = make_mbox(str(tmp_path / "alice.mbox"), [
        UW_PSEUDO, message("first", extra="X-UID: 11\nStatus: RO\n"), message("second", extra="X-UID: 12\n"),
    ])
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"mbox:{path}"}},
                         {"uidl_format": {"mbox": "uw"}})
    assert uidl_listing(server.port, "alice") == ["692b89000000000b", "692b89000000000c"]


def test_a_forged_x_uid_in_new_mail_does_not_take_an_old_uidl(make_server, shared_dir):
    # A sender puts "X-UID: 2" into a message: were it believed, the message would take the
    # UIDL of message 2, which the client has downloaded, and the client would never fetch it.
    path = dovecot_mbox(shared_dir)
    before, _ = dovecot_listing(shared_dir, path)
    with open(path, "ab") as f:
        for uid in (2, 3, 4, 99):  # a copy, the highest given, above UIDLAST, far above
            f.write(b"\nFrom mallory@example.org Tue Dec  1 00:00:00 2026\n"
                    + message(f"forged {uid}", extra=f"X-UID: {uid}\n") + b"\n")
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"mbox:{path}"}},
                         {"uidl_format": {"mbox": "dovecot"}})
    after = uidl_listing(server.port, "alice")
    assert after[:3] == before and len(after) == 7
    assert not set(after[3:]) & set(before) and not any(uidl[:1].isalnum() for uidl in after[3:])
