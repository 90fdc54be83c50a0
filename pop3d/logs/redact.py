"""Hide secrets in client lines before they reach a debug log or a trace file.

One function, used by every writer, so there is one place to get it right:
PASS arguments, APOP digests, AUTH initial responses and every SASL
continuation line (which carry passwords or challenge answers) are replaced.
"""

from __future__ import annotations

from pop3d.logs.escape import escape_bytes

REDACTED = "<redacted>"


def redact_line(line: bytes, continuation: bool) -> str:
    """``line`` as printable text with any secret in it replaced by ``<redacted>``.

    ``continuation`` is true when the line answers a SASL challenge; only a
    bare ``*`` (the client cancelling) is shown then.
    """
    if continuation:
        return "*" if line.strip() == b"*" else f"{REDACTED} (SASL response)"
    keyword, sep, rest = line.partition(b" ")
    name = keyword.upper()
    if name == b"PASS" and sep:
        return f"{printable(keyword)} {REDACTED}"
    if name == b"APOP" and sep:
        user, _, digest = rest.strip().partition(b" ")
        if not digest:  # a lone argument may be the digest itself
            return f"{printable(keyword)} {REDACTED}"
        return f"{printable(keyword)} {printable(user)} {REDACTED}"
    if name == b"AUTH" and sep:
        mechanism, _, initial = rest.strip().partition(b" ")
        if initial:
            return f"{printable(keyword)} {printable(mechanism)} {REDACTED}"
    return printable(line)


def printable(data: bytes, limit: int = 300) -> str:
    """Bytes as one line of text: control and separator characters escaped, long lines cut."""
    return escape_bytes(data[:limit]) + ("..." if len(data) > limit else "")
