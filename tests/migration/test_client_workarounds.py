"""Client workarounds over a real socket: each off by default, each exact about sizes when on."""

from __future__ import annotations

import pytest
from migration_kit import PASSWORD, make_maildir
from support import Client

from pop3d.config import ConfigError, load_config

FILES = {
    "cur/1764460800.M1P1.mx:2,S": b"Subject: nul\n\nbefore\0after\n",
    "cur/1764460900.M2P1.mx:2,S": b"Subject: only a header\nFrom: a@example.org\n",
    "cur/1764461000.M3P1.mx:2,S": b"Subject: no final newline\n\nlast line",
    "cur/1764461100.M4P1.mx:2,S": b"Subject: only a header, no newline",
}


def session(port: int) -> tuple[list[int], list[bytes]]:
    """LIST sizes, and each RETR's lines (dot-stuffing undone, CRLF kept) as bytes."""
    c = Client.connect(port)
    try:
        c.line()
        c.cmd("USER alice")
        assert c.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
        assert c.cmd("LIST").startswith(b"+OK")
        sizes = [int(line.split()[1]) for line in c.multiline()]
        bodies = []
        for n in range(1, len(sizes) + 1):
            assert c.cmd(f"RETR {n}").startswith(b"+OK")
            bodies.append(b"".join(line + b"\r\n" for line in c.multiline()))
        c.cmd("QUIT")
        return sizes, bodies
    finally:
        c.close()


def serve(make_server, tmp_path, workarounds):
    path = make_maildir(str(tmp_path / "Maildir"), FILES)
    extra = {"client_workarounds": workarounds} if workarounds else None
    return make_server({"alice": {"password": PASSWORD, "maildrop": f"maildir:{path}"}}, extra)


def test_by_default_messages_go_out_as_stored(make_server, tmp_path):
    sizes, bodies = session(serve(make_server, tmp_path, None).port)
    assert b"before\0after" in bodies[0]
    assert bodies[1] == b"Subject: only a header\r\nFrom: a@example.org\r\n"
    assert sizes == [len(b) for b in bodies]


def test_outlook_no_nuls_sends_0x80_and_keeps_every_size(make_server, tmp_path):
    sizes, bodies = session(serve(make_server, tmp_path, ["outlook-no-nuls"]).port)
    assert b"\0" not in b"".join(bodies) and b"before\x80after\r\n" in bodies[0]
    assert sizes == [len(b) for b in bodies]


def test_oe_ns_eoh_ends_a_header_only_message_and_counts_the_line(make_server, tmp_path):
    sizes, bodies = session(serve(make_server, tmp_path, ["oe-ns-eoh"]).port)
    assert bodies[1] == b"Subject: only a header\r\nFrom: a@example.org\r\n\r\n"
    assert bodies[3] == b"Subject: only a header, no newline\r\n\r\n"
    assert bodies[0] == b"Subject: nul\r\n\r\nbefore\0after\r\n"  # has its empty line: untouched
    assert sizes == [len(b) for b in bodies]


def test_every_message_ends_with_crlf_before_the_final_dot(make_server, tmp_path):
    # What other servers need a workaround for is pop3d's only behaviour.
    sizes, bodies = session(serve(make_server, tmp_path, None).port)
    assert bodies[2].endswith(b"last line\r\n") and sizes[2] == len(bodies[2])


def test_an_unknown_workaround_is_one_line_naming_file_and_key(tmp_path):
    (tmp_path / "users.yaml").write_text("{}\n")
    path = tmp_path / "pop3d.yaml"
    path.write_text("users: [{type: virtual, file: users.yaml}]\nclient_workarounds: [outlook-no-nul]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(path) in str(caught.value) and "client_workarounds" in str(caught.value)
    assert "'outlook-no-nul'" in str(caught.value) and "\n" not in str(caught.value)
