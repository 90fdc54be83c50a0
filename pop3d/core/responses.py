"""Formatting of POP3 status lines and multi-line responses.

Response codes are those of RFC 2449 and RFC 3206; the text after them is
for people.
"""

from __future__ import annotations

from collections.abc import Iterable

IN_USE = "IN-USE"
LOGIN_DELAY = "LOGIN-DELAY"
SYS_TEMP = "SYS/TEMP"
SYS_PERM = "SYS/PERM"
AUTH = "AUTH"


def _clean(text: str) -> bytes:
    """Encode text for a status line: no CR/LF, printable ASCII only."""
    data = text.encode("ascii", "replace")
    return bytes(b if 32 <= b < 127 else 0x3F for b in data)


def ok(text: str = "") -> bytes:
    return b"+OK" + (b" " + _clean(text) if text else b"") + b"\r\n"


def err(text: str, code: str | None = None) -> bytes:
    prefix = f"[{code}] " if code else ""
    return b"-ERR " + _clean(prefix + text) + b"\r\n"


def multiline(status: bytes, lines: Iterable[str | bytes]) -> bytes:
    """A status line, dot-stuffed content lines and the terminating ``.``."""
    out = [status]
    for line in lines:
        raw = line.encode("ascii", "replace") if isinstance(line, str) else line
        if raw.startswith(b"."):
            raw = b"." + raw
        out.append(raw + b"\r\n")
    out.append(b".\r\n")
    return b"".join(out)
