"""The ``tls`` section and the ``tls:`` listen entries that use it.

Certificate paths are written once, in ``tls: {certificate, key}``; both STLS
and every implicit-TLS listener (``tls:995``, RFC 8314) use them, with the
same ``min_version`` and ``ciphers``.  Twisted's
own ``ssl:`` endpoint strings are refused, so the paths cannot drift apart.
"""

from __future__ import annotations

from OpenSSL import SSL

from pop3d.config.errors import ConfigError
from pop3d.config.model import TLSConfig
from pop3d.config.reader import Section

#: A listen entry starting with this is an endpoint (TCP unless named) wrapped in TLS.
IMPLICIT_TLS_PREFIX = "tls:"


def tcp_shorthand(endpoint: str) -> str:
    """``995[:options]`` or ``port=995:...`` after a prefix means the tcp: endpoint."""
    first = endpoint.split(":", 1)[0]
    return "tcp:" + endpoint if first.isdigit() or "=" in first else endpoint


def readable_file(section: Section, name: str) -> str:
    """A path that must name a readable file; the error names key and file."""
    path: str = section.path_(name)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise section.error(name, f"cannot read {path}: {exc.strerror or exc}") from None
    return path


#: ``tls.min_version`` values (TLS 1.0 and 1.1 are not offered at all).
TLS_VERSIONS = ("1.2", "1.3")


def tls_version(section: Section) -> str:
    """``min_version``, written ``"1.2"`` or (YAML reads it as a number) ``1.2``."""
    value = section._get("min_version", TLSConfig.min_version)
    text = str(value) if isinstance(value, float | str) else None
    if text not in TLS_VERSIONS:
        raise section.error("min_version", f"must be one of {', '.join(TLS_VERSIONS)}, not {value!r}")
    return text


def check_ciphers(section: Section, ciphers: str) -> str:
    """An OpenSSL cipher string that selects at least one TLS 1.2 suite."""
    try:
        SSL.Context(SSL.TLS_METHOD).set_cipher_list(ciphers.encode("ascii"))
    except (SSL.Error, UnicodeEncodeError):
        raise section.error("ciphers", f"OpenSSL selects no cipher from {ciphers!r}") from None
    return ciphers


def load_tls(section: Section) -> TLSConfig | None:
    """``tls: {certificate, key, min_version, ciphers}``; None when the section is absent or empty."""
    if not section.data:
        return None
    tls = TLSConfig(
        certificate=readable_file(section, "certificate"),
        key=readable_file(section, "key"),
        min_version=tls_version(section),
        ciphers=check_ciphers(section, section.str("ciphers", TLSConfig.ciphers)),
    )
    section.finish()
    return tls


def default_listen(tls: TLSConfig | None) -> tuple[str, ...]:
    """POP3 on 110, plus POP3S on 995 when a certificate is configured."""
    return ("tcp:110", "tls:995") if tls is not None else ("tcp:110",)


def check_listen(section: Section, name: str, listen: tuple[str, ...], tls: TLSConfig | None) -> None:
    """Refuse ``ssl:`` entries and ``tls:`` entries without a certificate."""
    for i, description in enumerate(listen):
        key = f"{section.key(name)}[{i}]"
        if description.startswith("ssl:"):
            raise ConfigError(section.path, key, "write tls:PORT[:options] for implicit TLS; "
                                                 "the certificate comes from the tls section")
        if description.startswith(IMPLICIT_TLS_PREFIX):
            if tls is None:
                raise ConfigError(section.path, key, "needs a tls section with certificate and key")
            rest = description[len(IMPLICIT_TLS_PREFIX):]
            if not rest:
                raise ConfigError(section.path, key, "needs a port, as in tls:995")
            if rest.startswith((IMPLICIT_TLS_PREFIX, "ssl:")):
                raise ConfigError(section.path, key, "wraps TLS in TLS")
        if description.startswith("haproxy:") and description[8:].startswith((IMPLICIT_TLS_PREFIX, "ssl:")):
            raise ConfigError(section.path, key, "write tls:haproxy:... (the PROXY header comes "
                                                 "before the TLS handshake)")
