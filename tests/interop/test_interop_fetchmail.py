"""fetchmail 6.4: defaults, keep+uidl twice, delete mode, STLS with sslcertck, pop3s and APOP.

fetchmail delivers to an MDA that writes one file per message.  It changes
two things itself, and the comparison says so: it prepends its own
``Received:`` header (stripped before comparing: it is fetchmail's, not the
message's), and it drops a bare CR (its line reader treats CR as part of a
line end), which the ``bare-cr`` message's expected form accounts for.  A
message of headers only gets the blank line that ends a header block.  The
500 small messages go to the default and keep runs; the other modes get the
rest of the torture set (the transfer code is the same; the suite stays quick).
"""

from __future__ import annotations

import os

import pytest
from interop_kit import (
    APOP_SECRET,
    PASSWORD,
    as_delivered,
    compare,
    interop_server,
    maildir_count,
    read_files,
    run,
    tool,
    torture_set,
    with_header_end,
    without_prepended,
)

MESSAGES = torture_set()
SPECIAL = torture_set(small=0)
USERS = {"defaults": MESSAGES, "keep": MESSAGES, "stls": SPECIAL, "pop3s": SPECIAL, "apop": SPECIAL}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with interop_server(str(tmp_path_factory.mktemp("fetchmail")), USERS, apop=True) as s:
        yield s


def fetchmail_form(stored: bytes) -> bytes:
    """What fetchmail delivers of a stored message: LF ends, and no bare CR (fetchmail drops it)."""
    return with_header_end(as_delivered(stored).replace(b"\r", b""))


def fetchmail(server, tmp_path, user: str, options: str, user_options: str = "", secret: str = PASSWORD):
    """One fetchmail run of ``user`` (server ``options`` and ``user_options`` in its rc file).

    Returns the messages it delivered and its verbose log.
    """
    home = tmp_path / "home"
    out = tmp_path / "out"
    home.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    rc = home / ".fetchmailrc"
    rc.write_text(f'poll localhost {options} user "{user}" password "{secret}" '
                  f'{user_options} sslcertfile "{server.cert.certificate}" '
                  f"mda \"/bin/sh -c 'cat > {out}/m.$$'\"\n")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    result = run([tool("fetchmail"), "-f", str(rc), "--nosyslog", "-v",
                  "--pidfile", str(home / "fetchmail.pid")],  # as root the default is shared: /var/run
                 env=env, check=False)
    assert result.returncode in (0, 1), (  # 1: no mail (the second keep run)
        f"fetchmail exited {result.returncode}\n{result.stdout.decode(errors='replace')}"
        f"{result.stderr.decode(errors='replace')}")
    delivered = [without_prepended(m, b"Received") for m in read_files(str(out))]
    return delivered, result.stdout.decode(errors="replace")


def test_fetchmail_defaults_fetch_everything_and_delete_it(server, tmp_path):
    # Defaults: opportunistic STLS (sslcertck is on since 6.4), fetch, delete what was fetched.
    delivered, log = fetchmail(server, tmp_path, "defaults", f"protocol pop3 service {server.port}")
    compare(delivered, MESSAGES, fetchmail_form)
    assert "STLS" in log
    assert maildir_count(server.maildir("defaults")) == 0


def test_fetchmail_keep_uidl_twice_delivers_no_duplicates(server, tmp_path):
    options = f"protocol pop3 service {server.port} uidl"
    delivered, _ = fetchmail(server, tmp_path, "keep", options, "keep")
    compare(delivered, MESSAGES, fetchmail_form)
    again, log = fetchmail(server, tmp_path, "keep", options, "keep")
    assert len(again) == len(delivered), f"second run delivered again:\n{log[-2000:]}"
    assert maildir_count(server.maildir("keep")) == len(MESSAGES)


def test_fetchmail_stls_with_sslcertck(server, tmp_path):
    delivered, log = fetchmail(server, tmp_path, "stls",
                               f"protocol pop3 service {server.port}", "sslproto tls1.2+ sslcertck keep")
    compare(delivered, SPECIAL, fetchmail_form)
    assert "STLS" in log


def test_fetchmail_pop3s(server, tmp_path):
    options = f"protocol pop3 service {server.tls_port}"
    delivered, _ = fetchmail(server, tmp_path, "pop3s", options, "ssl sslcertck")
    compare(delivered, SPECIAL, fetchmail_form)
    assert maildir_count(server.maildir("pop3s")) == 0  # fetchmail's default: delete what it fetched


def test_fetchmail_apop(server, tmp_path):
    delivered, _ = fetchmail(server, tmp_path, "apop", f"protocol apop service {server.port}", "keep",
                             secret=APOP_SECRET.decode())
    compare(delivered, SPECIAL, fetchmail_form)


def test_fetchmail_kept_mail_expires(tmp_path):
    """With ``expire: 0`` the mail fetchmail keeps still goes.

    fetchmail 6.4.37 uses RETR here; versions that fetch with ``TOP n 99999999``
    are covered by tests/core/test_expire.py.
    """
    with interop_server(str(tmp_path / "srv"), {"expire": SPECIAL}, extra={"expire": 0}) as server:
        delivered, _ = fetchmail(server, tmp_path, "expire", f"protocol pop3 service {server.port}", "keep")
        compare(delivered, SPECIAL, fetchmail_form)
        assert maildir_count(server.maildir("expire")) == 0
