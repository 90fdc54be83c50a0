"""STLS (RFC 2595), implicit TLS (RFC 8314) and the plaintext-auth policy, over real sockets.

Certificates are generated per test run; Python's ssl module is the client.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from collections.abc import Iterator

import pytest
from support import Client, ServerFixture, running_server
from tls_kit import CertFiles, alice, connect_tls, make_certificate, server_with_tls_port, start_tls

REFUSED = b"-ERR [AUTH] plaintext authentication is disabled on unencrypted connections; use STLS"


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> CertFiles:
    return make_certificate(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture(scope="module")
def strict(tmp_path_factory, cert) -> Iterator[tuple[ServerFixture, int]]:
    """TLS configured, plaintext passwords only inside TLS; a plain and an implicit-TLS port."""
    workdir = str(tmp_path_factory.mktemp("strict"))
    with server_with_tls_port(workdir, alice(workdir), cert, {"plaintext_auth": "never"}) as both:
        yield both


@pytest.fixture(scope="module")
def lenient(tmp_path_factory, cert) -> Iterator[ServerFixture]:
    """TLS configured; plaintext allowed on loopback (the default)."""
    workdir = str(tmp_path_factory.mktemp("lenient"))
    with running_server(workdir, alice(workdir), {"tls": cert.config()}) as server:
        yield server


def capa(client: Client) -> list[bytes]:
    assert client.cmd("CAPA") == b"+OK capability list follows"
    return client.multiline()


def greeted(port: int) -> Client:
    c = Client.connect(port)
    assert c.line().startswith(b"+OK")
    return c


def nothing_arrives(client: Client, seconds: float = 0.5) -> bool:
    client.sock.settimeout(seconds)
    try:
        data = client.sock.recv(4096)
    except (TimeoutError, ssl.SSLWantReadError):
        return True
    finally:
        client.sock.settimeout(10)
    client.buf += data
    return False


def test_stls_then_login_inside_tls(strict, cert):
    server, _ = strict
    c = greeted(server.port)
    assert b"STLS" in capa(c)
    assert b"USER" not in capa(c)
    assert c.cmd("STLS") == b"+OK begin TLS negotiation"
    start_tls(c, cert)
    assert isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in ("TLSv1.2", "TLSv1.3")
    caps = capa(c)
    assert b"STLS" not in caps and b"USER" in caps
    assert c.cmd("STLS") == b"-ERR TLS is already active"
    assert c.cmd("USER alice") == b"+OK password required for alice"
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
    assert c.cmd("QUIT").startswith(b"+OK")


def test_stls_pipelined_commands_are_discarded_not_run_inside_tls(lenient, cert):
    """The STARTTLS command-injection class: bytes sent in the clear after STLS."""
    server = lenient
    c = greeted(server.port)
    c.send(b"STLS\r\nCAPA\r\n")
    assert c.line() == b"+OK begin TLS negotiation"
    start_tls(c, cert)
    assert nothing_arrives(c), f"answered an injected command inside TLS: {c.buf!r}"
    assert c.cmd("STAT") == b"-ERR STAT not valid in the AUTHORIZATION state"
    assert c.cmd("QUIT").startswith(b"+OK")


def test_stls_partial_line_in_the_clear_is_not_joined_to_tls_input(lenient, cert):
    server = lenient
    c = greeted(server.port)
    c.send(b"STLS\r\nCA")
    assert c.line() == b"+OK begin TLS negotiation"
    start_tls(c, cert)
    # If "CA" had been kept, this would complete a CAPA command.
    assert c.cmd("PA") == b"-ERR unknown command"
    assert c.cmd("QUIT").startswith(b"+OK")


def test_stls_refused_after_authentication(lenient):
    server = lenient
    c = greeted(server.port)
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK")
    assert b"STLS" not in capa(c)
    assert c.cmd("STLS") == b"-ERR STLS not valid in the TRANSACTION state"
    assert c.cmd("STAT") == b"+OK 1 22"  # still a plain, working session
    c.cmd("QUIT")


def test_stls_not_offered_or_accepted_without_a_certificate(make_server, tmp_path):
    server = make_server(alice(str(tmp_path)))
    c = greeted(server.port)
    assert b"STLS" not in capa(c)
    assert c.cmd("STLS") == b"-ERR STLS is not available on this server"
    assert b"USER" in capa(c)  # loopback: plaintext allowed by default
    c.cmd("QUIT")


def test_user_given_before_stls_does_not_carry_over(lenient, cert):
    server = lenient
    c = greeted(server.port)
    assert c.cmd("USER alice").startswith(b"+OK")
    assert c.cmd("STLS").startswith(b"+OK")
    start_tls(c, cert)
    assert c.cmd("PASS alice-pw") == b"-ERR USER first"
    c.cmd("QUIT")


def test_failed_handshake_after_stls_only_closes_that_connection(lenient):
    server = lenient
    c = greeted(server.port)
    assert c.cmd("STLS").startswith(b"+OK")
    c.send(b"this is not a TLS ClientHello\r\n" * 4)
    assert c.closed()
    other = greeted(server.port)
    assert other.cmd("QUIT").startswith(b"+OK")


def test_implicit_tls_listener_uses_the_configured_certificate(strict, cert):
    server, tls_port = strict
    c = connect_tls(tls_port, cert)
    assert c.line().startswith(b"+OK pop3d ")
    caps = capa(c)
    assert b"STLS" not in caps and b"USER" in caps
    assert c.cmd("STLS") == b"-ERR TLS is already active"
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
    assert c.cmd("RETR 1") == b"+OK 22 octets"
    assert c.multiline() == [b"Subject: hi", b"", b"hello"]
    assert c.cmd("QUIT").startswith(b"+OK")
    # The plain listener of the same server still refuses plaintext passwords.
    plain = greeted(server.port)
    assert plain.cmd("USER alice") == REFUSED
    plain.cmd("QUIT")


def test_implicit_tls_rejects_a_client_that_does_not_trust_it(strict, cert, tmp_path):
    stranger = make_certificate(str(tmp_path / "other"), "other")
    _, tls_port = strict
    with pytest.raises(ssl.SSLCertVerificationError):
        connect_tls(tls_port, stranger)
    # A plaintext client on the TLS port gets no greeting and is dropped.
    raw = Client.connect(tls_port)
    raw.send(b"CAPA\r\n")
    assert raw.closed()
    assert b"+OK" not in raw.buf
    c = connect_tls(tls_port, cert)
    assert c.line().startswith(b"+OK")
    c.cmd("QUIT")


def test_plaintext_refused_without_tls_but_apop_is_not(strict):
    server, _ = strict
    c = Client.connect(server.port)
    stamp = c.line().rsplit(b" ", 1)[1]
    assert c.cmd("USER alice") == REFUSED
    assert c.cmd("PASS x") == REFUSED
    digest = hashlib.md5(stamp + b"alice-pw").hexdigest()
    # APOP is not governed by plaintext_auth; here it is off (no apop_database), so no greeting
    # timestamp, and APOP is refused at once (issue 12).
    assert c.cmd(f"APOP alice {digest}") == b"-ERR [AUTH] APOP is not available on this connection"
    c.cmd("QUIT")


def test_plaintext_sasl_refused_without_tls_and_works_after_stls(strict, cert):
    server, _ = strict
    c = greeted(server.port)
    assert not [line for line in capa(c) if line.startswith(b"SASL")]
    assert c.cmd("AUTH PLAIN") == REFUSED
    assert c.cmd("AUTH LOGIN") == REFUSED
    assert c.cmd("STLS").startswith(b"+OK")
    start_tls(c, cert)
    assert b"SASL PLAIN LOGIN" in capa(c)
    token = base64.b64encode(b"\0alice\0alice-pw").decode()
    assert c.cmd(f"AUTH PLAIN {token}").startswith(b"+OK alice has 1 messages")
    c.cmd("QUIT")


def tcp_closed(client: Client, timeout: float = 5.0) -> bool:
    """True once the server closed the TCP connection under TLS (FIN, not just close_notify)."""
    assert client.closed(timeout)  # the TLS layer ended (close_notify)
    with socket.socket(fileno=os.dup(client.sock.fileno())) as raw:
        raw.settimeout(timeout)
        try:
            return raw.recv(1) == b""
        except TimeoutError:
            return False


def test_quit_closes_tls_connections_without_waiting_for_the_clients_close_notify(strict, cert):
    """RFC 1939: the server closes after QUIT; a TLS client need not answer the close_notify."""
    server, tls_port = strict
    implicit = connect_tls(tls_port, cert)
    implicit.line()
    assert implicit.cmd("QUIT").startswith(b"+OK")
    assert tcp_closed(implicit)
    stls = greeted(server.port)
    assert stls.cmd("STLS") == b"+OK begin TLS negotiation"
    start_tls(stls, cert)
    assert stls.cmd("QUIT").startswith(b"+OK")
    assert tcp_closed(stls)
