"""One user's UIDL listing from a POP3 server: log in, UIDL, QUIT; nothing else is sent.

Plain TCP, STLS (RFC 2595) or implicit TLS (RFC 8314), with the system's
certificate authorities, a given CA file, or no verification at all.
"""

from __future__ import annotations

import contextlib
import poplib
import ssl
from dataclasses import dataclass

TLS_MODES = ("none", "stls", "implicit")


class ListingError(Exception):
    """The listing could not be had (connection, TLS or login failure); the text says which."""


@dataclass(frozen=True)
class Endpoint:
    """Where a POP3 server listens and how to speak to it."""

    host: str
    port: int
    tls: str = "none"
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0

    @classmethod
    def parse(cls, text: str, **options: object) -> Endpoint:
        """``HOST:PORT`` or ``[IPv6]:PORT``; raise ValueError naming what is wrong."""
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not HOST:PORT")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return cls(host, int(port), **options)  # type: ignore[arg-type]

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _connect(endpoint: Endpoint) -> poplib.POP3:
    if endpoint.tls == "implicit":
        return poplib.POP3_SSL(endpoint.host, endpoint.port, timeout=endpoint.timeout,
                               context=endpoint.tls_context())
    pop = poplib.POP3(endpoint.host, endpoint.port, timeout=endpoint.timeout)
    if endpoint.tls == "stls":
        try:
            pop.stls(endpoint.tls_context())
        except BaseException:
            pop.close()
            raise
    return pop


def _text(reply: bytes | str) -> str:
    raw = reply if isinstance(reply, bytes) else reply.encode()
    return raw.decode("utf-8", "replace").strip()


def fetch_uidls(endpoint: Endpoint, user: str, password: str) -> list[str]:
    """The UIDLs of ``user``'s messages, in message-number order."""
    where = f"{endpoint.host}:{endpoint.port}"
    try:
        pop = _connect(endpoint)
    except (OSError, ssl.SSLError, poplib.error_proto) as exc:
        raise ListingError(f"cannot connect to {where}: {exc}") from None
    try:
        try:
            pop.user(user)
            pop.pass_(password)
        except poplib.error_proto as exc:
            raise ListingError(f"{where} refused the login: {_text(exc.args[0])}") from None
        try:
            _, lines, _ = pop.uidl()
        except poplib.error_proto as exc:
            raise ListingError(f"{where} refused UIDL: {_text(exc.args[0])}") from None
        with contextlib.suppress(OSError, poplib.error_proto):
            pop.quit()  # the listing is complete; how the server says goodbye does not matter
        return parse_uidl_lines(lines)
    except OSError as exc:
        raise ListingError(f"connection to {where} failed: {exc}") from None
    finally:
        pop.close()


def parse_uidl_lines(lines: list[bytes]) -> list[str]:
    """``n uidl`` lines, in the order of n; raise ListingError on a malformed line."""
    numbered: dict[int, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise ListingError(f"malformed UIDL line {line[:100]!r}")
        numbered[int(fields[0])] = fields[1].decode("ascii", "backslashreplace")
    return [numbered[n] for n in sorted(numbered)]
