"""Status lines and multi-line responses (pop3d.core.responses)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3d.core import responses


def test_ok_without_text_is_bare():
    assert responses.ok() == b"+OK\r\n"


def test_ok_with_text():
    assert responses.ok("2 320") == b"+OK 2 320\r\n"


def test_err_without_code():
    assert responses.err("no such message") == b"-ERR no such message\r\n"


@pytest.mark.parametrize("code", [responses.IN_USE, responses.LOGIN_DELAY, responses.SYS_TEMP,
                                  responses.SYS_PERM, responses.AUTH])
def test_err_with_response_code_in_brackets(code):
    assert responses.err("reason", code) == f"-ERR [{code}] reason\r\n".encode()


@pytest.mark.parametrize("text", ["a\r\nb", "a\rb", "a\nb", "tab\there", "nul\x00", "del\x7f",
                                  "caf\u00e9", "line\u2028sep", "nel\x85"])
def test_controls_and_non_ascii_become_question_marks(text):
    for line in (responses.ok(text), responses.err(text, responses.AUTH)):
        body = line[:-2]
        assert line.endswith(b"\r\n")
        assert all(32 <= b < 127 for b in body)
        assert b"?" in body


@given(st.text())
def test_status_lines_are_one_printable_line(text):
    for line in (responses.ok(text), responses.err(text), responses.err(text, responses.SYS_TEMP)):
        assert line.endswith(b"\r\n")
        assert all(32 <= b < 127 for b in line[:-2])


def test_multiline_dot_stuffs_and_terminates():
    out = responses.multiline(responses.ok("list"), ["1 100", ".hidden", b"..two", b"", "."])
    assert out == b"+OK list\r\n1 100\r\n..hidden\r\n...two\r\n\r\n..\r\n.\r\n"


def test_multiline_empty_body():
    assert responses.multiline(responses.ok(), []) == b"+OK\r\n.\r\n"


def test_multiline_str_lines_are_ascii():
    assert responses.multiline(b"+OK\r\n", ["caf\u00e9"]) == b"+OK\r\ncaf?\r\n.\r\n"
