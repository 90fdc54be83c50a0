"""Taking over from qpopper: its X-UIDL headers keep the UIDLs clients already know (opt-in)."""

from __future__ import annotations

import poplib

from support import HOST

QPOPPER_MBOX = (
    b"From alice@example.org Mon Nov 30 00:00:00 2026\n"
    b"X-UIDL: 2b6f0cc904d137be2e1730235f5664094b831186\nStatus: RO\nSubject: already fetched\n\nold\n\n"
    b"From bob@example.org Mon Nov 30 00:05:00 2026\n"
    b"Subject: new since\n\nnew\n"
)


def uidls(port: int) -> list[bytes]:
    pop = poplib.POP3(HOST, port, timeout=10)
    try:
        pop.user("alice")
        pop.pass_("alice-pw")
        return [line.split()[1] for line in pop.uidl()[1]]
    finally:
        pop.quit()


def test_uidls_from_x_uidl_headers_when_enabled(make_server, tmp_path):
    path = tmp_path / "alice.mbox"
    path.write_bytes(QPOPPER_MBOX)
    users = {"alice": {"password": "alice-pw", "maildrop": f"mbox:{path}"}}
    server = make_server(users, {"mbox_reuse_x_uidl": True})
    first, second = uidls(server.port)
    assert first == b"2b6f0cc904d137be2e1730235f5664094b831186"
    assert second != first and len(second) == 24  # no header: derived from the content
    assert uidls(server.port) == [first, second]


def test_x_uidl_headers_are_ignored_by_default(make_server, tmp_path):
    path = tmp_path / "alice.mbox"
    path.write_bytes(QPOPPER_MBOX)
    server = make_server({"alice": {"password": "alice-pw", "maildrop": f"mbox:{path}"}})
    assert b"2b6f0cc904d137be2e1730235f5664094b831186" not in uidls(server.port)
