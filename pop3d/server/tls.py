"""TLS for STLS (RFC 2595) and implicit-TLS listeners (RFC 8314).

:func:`server_options` turns the configured PEM files into Twisted's
``CertificateOptions`` once at start, so a bad file is a configuration error
naming it rather than a failure on the first handshake.  :func:`listener`
maps one ``listen`` entry to an endpoint and the factory to listen with: a
``tls:`` entry is the endpoint after the prefix, whose connections are
wrapped in TLS with that same certificate.  ``tls:995[:options]`` is short
for ``tls:tcp:995[:options]``; any other Twisted endpoint may follow, such
as ``tls:haproxy:tcp:995`` (PROXY protocol header first, then TLS) or
``tls:systemd:domain=INET6:name=pop3s``.  ``haproxy:`` entries are in
:mod:`pop3d.server.proxy`.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from twisted.internet import interfaces
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion
from twisted.protocols.tls import TLSMemoryBIOFactory

from pop3d.config.errors import ConfigError
from pop3d.config.model import Config, TLSConfig
from pop3d.config.tls import IMPLICIT_TLS_PREFIX, tcp_shorthand
from pop3d.server.proxy import proxy_factory, strip_proxy


def _read(config_path: str, key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(config_path, key, f"cannot read {path}: {exc.strerror or exc}") from None


#: ALPN protocol id of POP3 (RFC 8314, section 7).
ALPN_POP3 = b"pop3"
MIN_VERSIONS = {"1.2": TLSVersion.TLSv1_2, "1.3": TLSVersion.TLSv1_3}


def select_alpn(connection: SSL.Connection, offered: list[bytes]) -> bytes | object:
    """Choose ``pop3`` if the client offers it; with no overlap, go on without ALPN.

    Twisted's own callback answers an empty name when nothing overlaps, which
    OpenSSL turns into a fatal internal_error alert: every client sending
    ALPN (``openssl s_client -alpn``, proxies, HTTP-minded libraries) failed.
    """
    return ALPN_POP3 if ALPN_POP3 in offered else SSL.NO_OVERLAPPING_PROTOCOLS


class ServerTLSOptions(CertificateOptions):
    """Twisted's options, with :func:`select_alpn` as the ALPN callback."""

    def _makeContext(self, skipCiphers: bool = False) -> SSL.Context:  # noqa: N802, N803 (Twisted's names)
        context = super()._makeContext(skipCiphers)
        context.set_alpn_select_callback(select_alpn)
        return context


def server_options(tls: TLSConfig, config_path: str) -> CertificateOptions:
    """Load certificate chain and key; check they match.

    TLS ``tls.min_version`` (1.2) or later, ``tls.ciphers`` for TLS 1.2
    (ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC, no static RSA), and
    resumption by session ID and by ticket, so polling clients skip the
    full handshake.
    """
    try:
        chain = x509.load_pem_x509_certificates(_read(config_path, "tls.certificate", tls.certificate))
    except ValueError:
        raise ConfigError(config_path, "tls.certificate",
                          f"{tls.certificate} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(_read(config_path, "tls.key", tls.key), password=None)
    except (ValueError, TypeError) as exc:
        encrypted = isinstance(exc, TypeError)
        reason = "is encrypted with a passphrase" if encrypted else "holds no PEM private key"
        raise ConfigError(config_path, "tls.key", f"{tls.key} {reason}") from None
    # pyOpenSSL takes cryptography's objects directly (its own X509/PKey are deprecated).
    options = ServerTLSOptions(
        privateKey=key,  # type: ignore[arg-type]
        certificate=chain[0],  # type: ignore[arg-type]
        extraCertChain=list(chain[1:]),  # type: ignore[arg-type]
        raiseMinimumTo=MIN_VERSIONS[tls.min_version],
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(tls.ciphers),
        enableSessions=True,
        enableSessionTickets=True,
    )
    try:
        options.getContext()  # checks that key and certificate belong together
    except SSL.Error:
        raise ConfigError(config_path, "tls.key",
                          f"{tls.key} does not match the certificate in {tls.certificate}") from None
    return options


def configured_options(config: Config) -> CertificateOptions | None:
    """The server's TLS options, or None when the configuration has no tls section."""
    return server_options(config.tls, config.path) if config.tls is not None else None


def is_implicit_tls(description: str) -> bool:
    return description.startswith(IMPLICIT_TLS_PREFIX)


def listener(reactor: object, description: str, factory: Factory,
             options: CertificateOptions | None) -> tuple[interfaces.IStreamServerEndpoint, Factory]:
    """The endpoint and factory for one ``listen`` entry.

    ``tls:`` wraps the connections in TLS, ``haproxy:`` (after ``tls:``, since
    the header comes before the handshake) reads a PROXY header first.
    """
    return serverFromString(reactor, endpoint_description(description)), \
        wrap_factory(description, factory, options)


def endpoint_description(description: str) -> str:
    """The Twisted endpoint under a ``listen`` entry's ``tls:`` and ``haproxy:`` prefixes."""
    inner = under_tls(description) if is_implicit_tls(description) else description
    return strip_proxy(inner)[0]


def wrap_factory(description: str, factory: Factory, options: CertificateOptions | None) -> Factory:
    """``factory`` as a ``listen`` entry serves it: under TLS and/or a PROXY header."""
    implicit_tls = is_implicit_tls(description)
    inner = under_tls(description) if implicit_tls else description
    if implicit_tls:
        if options is None:  # the loader refuses this; guard against other callers
            raise ValueError(f"{description}: implicit TLS needs a configured certificate")
        factory = tls_factory(options, factory)
    if strip_proxy(inner)[1]:
        factory = proxy_factory(factory)
    return factory


def under_tls(description: str) -> str:
    """The endpoint a ``tls:`` entry wraps: ``tls:995:x=y`` is ``tcp:995:x=y``."""
    return tcp_shorthand(description[len(IMPLICIT_TLS_PREFIX):])


def tls_factory(options: CertificateOptions, factory: Factory) -> Factory:
    """``factory``'s connections, encrypted from their first byte (RFC 8314)."""
    return TLSMemoryBIOFactory(options, False, factory)


def transport_is_tls(transport: object) -> bool:
    """True if bytes on ``transport`` are already encrypted (implicit TLS or after STLS)."""
    return interfaces.ISSLTransport.providedBy(transport) or bool(getattr(transport, "TLS", False))


def plaintext_auth_allowed(mode: str, peer_host: str | None) -> bool:
    """May a client without TLS send its password in the clear?

    ``mode`` is the ``plaintext_auth`` setting: "always", "never", or
    "loopback" (only from 127.0.0.0/8 and ::1, where nobody can sniff it).
    """
    if mode == "always":
        return True
    if mode == "never" or peer_host is None:
        return False
    try:
        address = ipaddress.ip_address(peer_host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
