"""Behind a load balancer: the PROXY protocol (``haproxy:`` listeners), with and without TLS.

pop3d takes the client's address from the PROXY header, so the plaintext
policy, the failure throttle, the limits and the logs see the real client,
not the balancer.  Checked with hand-written PROXY headers (to pose as a
remote client) and through a real HAProxy with ``send-proxy``/``send-proxy-v2``.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import pytest
from support import HOST, Client, ServerFixture, free_port, require_tool, write_config
from tls_kit import CertFiles, alice, client_context, make_certificate

REFUSED = b"-ERR [AUTH] plaintext authentication is disabled on unencrypted connections; use STLS"


@pytest.fixture
def cert(tmp_path) -> CertFiles:
    return make_certificate(str(tmp_path / "certs"))


@contextlib.contextmanager
def proxied_server(tmp_path, cert: CertFiles, args: list[str] | None = None):
    """pop3d with a PROXY-protocol port and a PROXY-then-TLS port; yields (server, plain, tls)."""
    plain, tls = free_port(), free_port()
    listen = [f"haproxy:tcp:{plain}:interface={HOST}", f"tls:haproxy:tcp:{tls}:interface={HOST}"]
    config = write_config(str(tmp_path), alice(str(tmp_path)), plain,
                          {"listen": listen, "tls": cert.config()})
    server = ServerFixture(str(tmp_path), plain, config, extra_args=list(args or []))
    try:
        server.start(wait=False)
        wait_greeting(server, plain)
        yield server, plain, tls
    finally:
        server.stop()


def wait_greeting(server: ServerFixture, port: int, timeout: float = 20) -> None:
    """The PROXY port is ready once a connection with a header gets the greeting."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc is not None and server.proc.poll() is None, server.log()
        with contextlib.suppress(OSError):
            c = proxied(port, "127.0.0.1")
            try:
                if c.line().startswith(b"+OK"):
                    c.cmd("QUIT")
                    return
            finally:
                c.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"pop3d did not start listening:\n{server.log()}")
        time.sleep(0.05)


def proxied(port: int, source: str) -> Client:
    c = Client.connect(port)
    c.send(f"PROXY TCP4 {source} 127.0.0.1 40000 110\r\n".encode())
    return c


def test_the_proxy_header_gives_the_real_client_address(tmp_path, cert):
    trace = tmp_path / "trace.log"
    with proxied_server(tmp_path, cert, ["-t", str(trace)]) as (_, port, tls_port):
        # A remote client (as the balancer reports it) may not send passwords in the clear...
        remote = proxied(port, "192.0.2.7")
        assert remote.line().startswith(b"+OK pop3d")
        assert remote.cmd("CAPA").startswith(b"+OK")
        caps = remote.multiline()
        assert b"USER" not in caps and b"STLS" in caps
        assert remote.cmd("USER alice") == REFUSED
        remote.cmd("QUIT")
        # ...a client on loopback may (plaintext_auth: loopback).
        local = proxied(port, "127.0.0.1")
        assert local.line().startswith(b"+OK")
        local.cmd("USER alice")
        assert local.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
        local.cmd("QUIT")
        # Without the header nothing is served: the port belongs to the balancer.
        bare = Client.connect(port)
        bare.send(b"CAPA\r\n")
        assert bare.closed() and b"+OK" not in bare.buf
        # On the TLS port the header comes first, then the handshake.
        raw = proxied(tls_port, "198.51.100.9").sock
        s = Client(client_context(cert).wrap_socket(raw, server_hostname="localhost"))
        assert s.line().startswith(b"+OK pop3d")
        s.cmd("QUIT")
    text = trace.read_text()
    assert "connection from 198.51.100.9 port 40000" in text
    assert "connection from 192.0.2.7 port 40000" in text
    assert "connection from 127.0.0.1 port 40000" in text


HAPROXY_CONFIG = """\
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen pop3
    bind {host}:{front}
    server pop3d {host}:{plain} send-proxy
listen pop3s
    bind {host}:{front_tls}
    server pop3d {host}:{tls} send-proxy-v2
"""


def wait_connectable(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client.connect(port).sock:
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_through_a_real_haproxy_plain_and_tls(tmp_path, cert):
    binary = require_tool("haproxy")
    with proxied_server(tmp_path, cert) as (_, plain, tls):
        front, front_tls = free_port(), free_port()
        config = tmp_path / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(host=HOST, front=front, plain=plain,
                                                front_tls=front_tls, tls=tls))
        proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_connectable(front, proc)
            c = Client.connect(front)
            assert c.line().startswith(b"+OK pop3d")
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
            assert c.cmd("QUIT").startswith(b"+OK")
            # PROXY v2 header first, then the TLS handshake, carried through untouched.
            raw = Client.connect(front_tls).sock
            s = Client(client_context(cert).wrap_socket(raw, server_hostname="localhost"))
            assert s.line().startswith(b"+OK pop3d")
            assert s.cmd("CAPA").startswith(b"+OK") and b"STLS" not in s.multiline()
            s.cmd("USER alice")
            assert s.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
            assert s.cmd("RETR 1") == b"+OK 22 octets"
            assert s.multiline() == [b"Subject: hi", b"", b"hello"]
            assert s.cmd("QUIT").startswith(b"+OK")
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
