"""Secrets never reach a debug log or a trace: the one redaction function."""

from __future__ import annotations

import pytest

from pop3d.logs.redact import redact_line


@pytest.mark.parametrize(("line", "expected"), [
    (b"PASS hunter2", "PASS <redacted>"),
    (b"pass with spaces in it", "pass <redacted>"),
    (b"APOP alice c4c9334bac560ecc979e58001b3e22fb", "APOP alice <redacted>"),
    (b"APOP c4c9334bac560ecc979e58001b3e22fb", "APOP <redacted>"),
    (b"AUTH PLAIN AGFsaWNlAGh1bnRlcjI=", "AUTH PLAIN <redacted>"),
    (b"auth login YWxpY2U=", "auth login <redacted>"),
])
def test_secrets_are_replaced(line, expected):
    text = redact_line(line, continuation=False)
    assert text == expected
    assert line.split(b" ", 1)[1].split()[-1].decode() not in text


@pytest.mark.parametrize("line", [b"USER alice", b"AUTH", b"AUTH PLAIN", b"RETR 1", b"CAPA", b"PASS"])
def test_lines_without_secrets_are_kept(line):
    assert redact_line(line, continuation=False) == line.decode()


def test_every_sasl_continuation_is_hidden_except_cancel():
    assert redact_line(b"aHVudGVyMg==", continuation=True) == "<redacted> (SASL response)"
    assert redact_line(b"USER looks like a command", continuation=True) == "<redacted> (SASL response)"
    assert redact_line(b"*", continuation=True) == "*"


def test_control_characters_cannot_forge_log_lines():
    text = redact_line(b"NOOP\r\nPASS x\x00\x1b[31m", continuation=False)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\x00" not in text


def test_separators_and_c1_controls_are_escaped_and_backslashes_doubled():
    from pop3d.logs.escape import escape, escape_word

    assert escape("a\u2028b\u2029c\u0085d\x9be\x00f\u202eg") == r"a\u2028b\u2029c\x85d\x9be\x00f\u202eg"
    assert escape(r"looks\u2028escaped") == r"looks\\u2028escaped"  # no escape can be forged
    assert escape_word('two words "quoted"') == r"two\x20words\x20\x22quoted\x22"
    assert redact_line("USER x\u2028y".encode() + b"\xff", continuation=False) == r"USER x\u2028y\xff"
