"""pop3d and Dovecot's IMAP server on one Maildir at the same time, as many sites run them.

While a POP3 session is open, an IMAP client delivers, flags and expunges:
the POP3 session keeps the snapshot it logged in with, its DELE of a message
IMAP already expunged does not fail the UPDATE, IMAP's flags survive pop3d's
renames, and neither server finds the other's files broken afterwards.
"""

from __future__ import annotations

import imaplib
import re

import pytest
from dovecot_kit import give_to_mail, running_dovecot
from migration_kit import PASSWORD, make_maildir, message, sized, uidl_listing
from support import HOST, Client

pytestmark = pytest.mark.slow


def imap_login(port: int) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(HOST, port, timeout=10)
    imap.login("alice", PASSWORD)
    imap.select("INBOX")
    return imap


def pop3_login(port: int) -> Client:
    pop = Client.connect(port)
    assert pop.line().startswith(b"+OK")
    assert pop.cmd("USER alice").startswith(b"+OK")
    assert pop.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
    return pop


def subjects(imap: imaplib.IMAP4) -> list[tuple[str, str]]:
    """(subject, flags) of every message, in IMAP order."""
    _, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()  # type: ignore[union-attr]
            kept = " ".join(f for f in flags.split() if f != "\\Recent")  # per session, not stored
            out.append((item[1].decode().split(":", 1)[1].strip(), kept))
    return out


@pytest.mark.parametrize("style", ["pop3d", "dovecot"])
def test_pop3_session_and_imap_client_on_one_maildir(make_server, shared_dir, style):
    first, second, third = message("first"), message("second"), message("third")
    path = make_maildir(f"{shared_dir}/alice/Maildir", {
        f"cur/{sized('1764460800.M1P10.mx', first)}:2,S": first,
        f"cur/{sized('1764460900.M2P10.mx', second)}:2,S": second,
        f"new/{sized('1764461000.M3P10.mx', third)}": third,
    })
    give_to_mail(shared_dir)
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"maildir:{path}"}},
                         {"uidl_format": {"maildir": style}})
    with running_dovecot(f"{shared_dir}/dovecot", {"alice": (PASSWORD, f"maildir:{path}")}, imap=True) as dc:
        uidl_listing(dc.port, "alice")  # Dovecot served this Maildir before: it has numbered it
        pop = pop3_login(server.port)
        uidls = pop.cmd("UIDL") and pop.multiline()
        imap = imap_login(dc.imap_port)
        try:
            imap.append("INBOX", "", None, message("delivered by IMAP").replace(b"\n", b"\r\n"))
            imap.store("1", "+FLAGS", "(\\Flagged)")
            imap.store("2", "+FLAGS", "(\\Deleted)")
            imap.expunge()
            # The POP3 session still sees what it logged in with ...
            assert pop.cmd("STAT").startswith(b"+OK 3 ")
            # ... reads a message IMAP renamed (new flags), is told when one is gone ...
            assert pop.cmd("RETR 1").startswith(b"+OK")
            assert b"Subject: first" in b"\n".join(pop.multiline())
            assert pop.cmd("RETR 2").startswith(b"-ERR")
            # ... and deleting what IMAP already expunged is no failure.
            assert pop.cmd("DELE 2").startswith(b"+OK") and pop.cmd("DELE 3").startswith(b"+OK")
            assert pop.cmd("QUIT").startswith(b"+OK")
            pop.close()
            imap.noop()
            assert subjects(imap) == [("first", "\\Flagged \\Seen"), ("delivered by IMAP", "")]
        finally:
            imap.logout()
        imap = imap_login(dc.imap_port)  # a fresh session: Dovecot re-reads its index and the files
        try:
            assert [s for s, _ in subjects(imap)] == ["first", "delivered by IMAP"]
        finally:
            imap.logout()
        dovecots = uidl_listing(dc.port, "alice")
        log = dc.log()
    assert "Error" not in log and "orrupt" not in log, log
    after = uidl_listing(server.port, "alice")
    assert len(after) == 2 and after[0] == uidls[0].split()[1].decode()  # kept, and kept its UIDL
    if style == "dovecot":  # mail IMAP delivered gets the UIDL Dovecot's POP3 server gives it
        assert after == dovecots
