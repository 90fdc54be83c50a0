"""Make client-supplied text safe for one log line.

A user name, a command or a reverse-DNS answer may carry control characters
and Unicode line or paragraph separators (U+2028, U+2029, U+0085, C0 and C1
controls): written raw, a syslog reader would see them as a line break or a
space and could be fooled by a forged ``from host (...) ADDR`` segment.
Every writer passes such text through :func:`escape` (or :func:`escape_word`
for a field of a space-separated line), so it stays on its line, readable,
and unambiguous: a backslash is doubled, so no escape can be forged either.
"""

from __future__ import annotations

import re


def _code(c: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def escape(text: str) -> str:
    """``text`` with backslashes doubled and every non-printable character as ``\\xXX``/``\\uXXXX``."""
    return "".join("\\\\" if c == "\\" else c if c.isprintable() else _code(c) for c in text)


def escape_word(text: str) -> str:
    """:func:`escape`, and spaces and quotes too: one field of a space-separated line (``Stats:``)."""
    return escape(text).replace(" ", "\\x20").replace('"', "\\x22")


def escape_bytes(data: bytes) -> str:
    """Bytes from the wire as escaped text (UTF-8 where it decodes, ``\\xXX`` where it does not)."""
    return escape(data.decode("utf-8", "surrogateescape"))


_ESCAPED = re.compile(r"\\\\|\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})")


def unescape(text: str) -> str:
    """Undo :func:`escape_word` (and :func:`escape`): what a log reader shows as the client's text."""
    def one(m: re.Match[str]) -> str:
        code = m[1] or m[2] or m[3]
        return "\\" if code is None else chr(int(code, 16))
    return _ESCAPED.sub(one, text)


def one_line(message: str) -> str:
    """The last defence of a log writer: non-printable characters escaped, text otherwise kept."""
    return "".join(c if c.isprintable() else _code(c) for c in message)


def login_as(mechanism: str, user: str) -> str:
    """``MECHANISM login as USER``, both escaped: how the debug log and the trace name a login."""
    return f"{escape_word(mechanism)} login as {escape_word(user)}"


def tls_summary(version: str, cipher: str, alpn: str | None) -> str:
    """``TLSv1.3 TLS_AES_256_GCM_SHA384, ALPN pop3``: a handshake's outcome, as the logs give it."""
    return f"{escape_word(version)} {escape_word(cipher)}" + (f", ALPN {escape_word(alpn)}" if alpn else "")
