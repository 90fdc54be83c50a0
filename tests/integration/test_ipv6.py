"""IPv6: a tcp6 listener on [::1], with the client's IPv6 address in the policy and the logs."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from support import Client, ServerFixture, write_config
from tls_kit import alice


def free_port6() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def test_a_session_over_ipv6_loopback(tmp_path):
    try:
        port = free_port6()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    trace = tmp_path / "trace.log"
    config = write_config(str(tmp_path), alice(str(tmp_path)), port,
                          {"listen": [f"tcp6:{port}:interface=\\:\\:1"]})
    server = ServerFixture(str(tmp_path), port, config, extra_args=["-t", str(trace)])
    server.start(wait=False)
    try:
        c = None
        for _ in range(200):
            with contextlib.suppress(OSError):
                c = Client(socket.create_connection(("::1", port), timeout=10))
                break
            assert server.proc is not None and server.proc.poll() is None, server.log()
            time.sleep(0.05)
        assert c is not None, server.log()
        assert c.line().startswith(b"+OK pop3d")
        # ::1 is loopback: plaintext passwords are allowed (plaintext_auth: loopback).
        assert c.cmd("USER alice").startswith(b"+OK")
        assert c.cmd("PASS alice-pw") == b"+OK alice has 1 messages (22 octets)"
        assert c.cmd("RETR 1") == b"+OK 22 octets"
        assert c.multiline() == [b"Subject: hi", b"", b"hello"]
        assert c.cmd("QUIT").startswith(b"+OK")
        client_port = c.sock.getsockname()[1]
        c.close()
    finally:
        server.stop()
    assert f"connection from ::1 port {client_port}" in trace.read_text()
