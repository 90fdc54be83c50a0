"""Which connections may send passwords in the clear, and what each listen entry becomes."""

from __future__ import annotations

import pytest
from tls_kit import make_certificate
from twisted.internet import task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory
from twisted.protocols.tls import TLSMemoryBIOFactory

from pop3d.config.model import TLSConfig
from pop3d.server.tls import listener, plaintext_auth_allowed, server_options


@pytest.mark.parametrize(("mode", "host", "allowed"), [
    ("loopback", "127.0.0.1", True),
    ("loopback", "127.8.9.10", True),
    ("loopback", "::1", True),
    ("loopback", "::ffff:127.0.0.1", True),
    ("loopback", "192.0.2.7", False),
    ("loopback", "2001:db8::1", False),
    ("loopback", "::ffff:192.0.2.7", False),
    ("loopback", None, False),
    ("loopback", "not-an-address", False),
    ("always", "192.0.2.7", True),
    ("always", None, True),
    ("never", "127.0.0.1", False),
])
def test_plaintext_auth_allowed(mode, host, allowed):
    assert plaintext_auth_allowed(mode, host) is allowed


def test_plain_listen_entry_keeps_the_factory():
    factory = Factory()
    endpoint, wrapped = listener(task.Clock(), "tcp:8110:interface=127.0.0.1", factory, None)
    assert isinstance(endpoint, TCP4ServerEndpoint) and wrapped is factory


def test_tls_listen_entry_is_tcp_wrapped_in_tls_with_the_configured_options(tmp_path):
    files = make_certificate(str(tmp_path))
    factory = Factory()
    options = server_options(TLSConfig(files.certificate, files.key), "pop3d.yaml")
    endpoint, wrapped = listener(task.Clock(), "tls:9995:interface=127.0.0.1", factory, options)
    assert isinstance(endpoint, TCP4ServerEndpoint)
    assert endpoint._port == 9995 and endpoint._interface == "127.0.0.1"
    assert isinstance(wrapped, TLSMemoryBIOFactory) and wrapped.wrappedFactory is factory


def test_tls_listen_entry_without_options_is_a_programming_error():
    with pytest.raises(ValueError, match="needs a configured certificate"):
        listener(task.Clock(), "tls:995", Factory(), None)
