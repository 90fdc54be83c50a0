"""curl: its default LIST, RETR byte-exact over plain, STLS (--ssl-reqd) and pop3s, and -X UIDL."""

from __future__ import annotations

import os
import poplib

import pytest
from interop_kit import PASSWORD, as_wire, compare, interop_server, read_files, run, tool, torture_set
from support import HOST

MESSAGES = torture_set()
USERS = ("list", "plain", "ssl-reqd", "pop3s", "uidl")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with interop_server(str(tmp_path_factory.mktemp("curl")), dict.fromkeys(USERS, MESSAGES)) as s:
        yield s


def curl(server, *args: str) -> bytes:
    return run([tool("curl"), "--silent", "--show-error", "--cacert", server.cert.certificate, *args]).stdout


def test_curl_default_lists_every_message_with_its_wire_size(server):
    listing = curl(server, "-u", f"list:{PASSWORD}", f"pop3://{HOST}:{server.port}/")
    sizes = [int(line.split()[1]) for line in listing.splitlines()]
    assert sizes == [len(as_wire(m)) for m in MESSAGES.values()]


@pytest.mark.parametrize(("user", "scheme", "extra"), [
    ("plain", "pop3", []),
    ("ssl-reqd", "pop3", ["--ssl-reqd"]),  # STLS, refusing to go on without it
    ("pop3s", "pop3s", []),
])
def test_curl_retr_is_byte_exact(server, tmp_path, user, scheme, extra):
    port = server.tls_port if scheme == "pop3s" else server.port
    config = tmp_path / "curl.conf"
    out = tmp_path / "out"
    out.mkdir()
    # One curl, one connection reused for every message: url and output in pairs.
    config.write_text("".join(f'url = "{scheme}://{HOST}:{port}/{n}"\noutput = "{out}/{n:04d}"\n'
                              for n in range(1, len(MESSAGES) + 1)))
    curl(server, *extra, "-u", f"{user}:{PASSWORD}", "--config", str(config))
    compare(read_files(str(out)), MESSAGES, as_wire)
    assert len(os.listdir(server.maildir(user) + "/new")) + len(os.listdir(server.maildir(user) + "/cur")) \
        == len(MESSAGES), "RETR alone deleted mail"


def test_curl_custom_uidl_matches_poplib(server):
    listing = curl(server, "-u", f"uidl:{PASSWORD}", "-X", "UIDL", f"pop3://{HOST}:{server.port}/")
    pop = poplib.POP3(HOST, server.port)
    pop.user("uidl")
    pop.pass_(PASSWORD)
    expected = pop.uidl()[1]
    pop.quit()
    assert listing.splitlines() == expected
    assert len(set(line.split()[1] for line in expected)) == len(MESSAGES)
