"""Python's poplib: plain USER/PASS, STLS, APOP and POP3_SSL, the whole torture set each time."""

from __future__ import annotations

import poplib

import pytest
from interop_kit import APOP_SECRET, PASSWORD, as_wire, compare, interop_server, torture_set
from support import HOST
from tls_kit import client_context

MESSAGES = torture_set()
MODES = ("plain", "stls", "pop3_ssl", "apop")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with interop_server(str(tmp_path_factory.mktemp("poplib")), dict.fromkeys(MODES, MESSAGES),
                        apop=True) as s:
        yield s


def fetch_all(pop: poplib.POP3) -> list[bytes]:
    count, _ = pop.stat()
    # poplib unstuffs and splits lines; CRLF joins them back into the wire form.
    return [b"".join(line + b"\r\n" for line in pop.retr(n)[1]) for n in range(1, count + 1)]


@pytest.mark.parametrize("mode", MODES)
def test_poplib_retrieves_the_torture_set_byte_exact(server, mode):
    poplib._MAXLINE = 1 << 20  # poplib refuses lines over 2048 octets by default; ours are shorter
    if mode == "pop3_ssl":
        pop: poplib.POP3 = poplib.POP3_SSL(HOST, server.tls_port, context=client_context(server.cert))
    else:
        pop = poplib.POP3(HOST, server.port)
    if mode == "stls":
        assert "STLS" in pop.capa()
        pop.stls(client_context(server.cert))
    if mode == "apop":
        pop.apop(mode, APOP_SECRET.decode())
    else:
        pop.user(mode)
        pop.pass_(PASSWORD)
    delivered = fetch_all(pop)
    pop.quit()
    compare(delivered, MESSAGES, as_wire)
