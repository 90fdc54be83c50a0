"""The bounded line splitter (pop3d.core.lines)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3d.core.lines import TOO_LONG, LineBuffer


def drain(buf: LineBuffer, max_length: int) -> list[object]:
    out: list[object] = []
    while (line := buf.next_line(max_length)) is not None:
        out.append(line)
    return out


def split(data: bytes, max_length: int = 100) -> list[object]:
    buf = LineBuffer()
    buf.feed(data)
    return drain(buf, max_length)


def test_lf_and_crlf_both_end_a_line():
    buf = LineBuffer()
    assert buf.feed(b"STAT\r\nNOOP\nLIST 1\r\n")
    assert drain(buf, 100) == [b"STAT", b"NOOP", b"LIST 1"]
    assert buf.pending == 0


def test_partial_line_is_kept_until_its_end():
    buf = LineBuffer()
    assert not buf.feed(b"RE")  # no whole line: not activity
    assert buf.next_line(100) is None
    assert buf.pending == 2
    buf.feed(b"TR 1\r")
    assert buf.next_line(100) is None
    assert buf.feed(b"\n")
    assert drain(buf, 100) == [b"RETR 1"]
    assert buf.pending == 0


def test_only_one_cr_is_stripped():
    assert split(b"A\r\r\n") == [b"A\r"]


def test_lone_cr_does_not_end_a_line():
    assert split(b"A\rB\n") == [b"A\rB"]


def test_empty_lines():
    assert split(b"\r\n\n") == [b"", b""]


def test_line_of_exactly_max_length_passes():
    assert split(b"abcd\r\n", 4) == [b"abcd"]


def test_crlf_split_across_reads_at_the_limit():
    buf = LineBuffer()
    buf.feed(b"abcd\r")
    assert buf.next_line(4) is None
    assert buf.pending == 5
    buf.feed(b"\n")
    assert drain(buf, 4) == [b"abcd"]


def test_line_one_over_max_is_too_long():
    assert split(b"abcde\r\nok\r\n", 4) == [TOO_LONG, b"ok"]


def test_unterminated_line_is_too_long_at_once_then_dropped_as_it_arrives():
    buf = LineBuffer()
    buf.feed(b"x" * 100)
    assert drain(buf, 10) == [TOO_LONG]
    for _ in range(1000):
        buf.feed(b"x" * 100)
        assert drain(buf, 10) == []
        assert buf.pending == 0
    assert buf.discarded == 100_100
    buf.feed(b"\r\nNOOP\r\n")
    assert drain(buf, 10) == [b"NOOP"]  # no second TOO_LONG at the end of the long line


def test_limit_is_chosen_when_the_line_is_read():
    buf = LineBuffer()
    buf.feed(b"AUTH PLAIN\r\n" + b"A" * 2000 + b"\r\n")
    assert buf.next_line(100) == b"AUTH PLAIN"
    assert buf.next_line(4000) == b"A" * 2000  # a SASL answer may be longer than a command


def test_has_line_says_whether_next_line_returns_something():
    buf = LineBuffer()
    buf.feed(b"abc")
    assert not buf.has_line(10) and buf.has_line(1)
    buf.feed(b"\n")
    assert buf.has_line(10)


def test_clear_drops_pending_bytes_and_discard_mode():
    buf = LineBuffer()
    buf.feed(b"x" * 20)
    assert buf.next_line(4) is TOO_LONG
    buf.clear()
    assert buf.pending == 0 and not buf.discarding
    buf.feed(b"ok\r\n")
    assert drain(buf, 4) == [b"ok"]


def test_too_long_repr():
    assert repr(TOO_LONG) == "TOO_LONG"


# -- property: random lines, random splits ---------------------------------

MAX = 16

line_content = st.one_of(
    st.binary(max_size=MAX + 2).filter(lambda b: b"\n" not in b),
    st.integers(MAX - 1, 5 * MAX).map(lambda n: b"y" * n),
    st.lists(st.sampled_from([b"a", b"\r", b" ", b"."]), max_size=MAX + 3).map(b"".join),
)


def expected_lines(stream: bytes) -> list[object]:
    """The model: each LF ends a line; one CR before it is dropped; long lines collapse."""
    out: list[object] = []
    for piece in stream.split(b"\n")[:-1]:
        line = piece[:-1] if piece.endswith(b"\r") else piece
        out.append(TOO_LONG if len(line) > MAX else line)
    return out


def line_of(content: bytes, end: bytes) -> bytes:
    """What the line holds once its end is taken off: a CR of the content's own joins an LF end."""
    return content[:-1] if end == b"\n" and content.endswith(b"\r") else content


@settings(max_examples=150)
@given(st.lists(st.tuples(line_content, st.sampled_from([b"\n", b"\r\n"]))), line_content, st.data())
def test_random_lines_random_splits(lines, tail, data):
    stream = b"".join(content + end for content, end in lines) + tail
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    buf = LineBuffer()
    got: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        buf.feed(stream[start:end])
        got += drain(buf, MAX)
        assert buf.pending <= MAX + 1
    # A tail already over the limit is reported before its end arrives.
    assert got == expected_lines(stream) + ([TOO_LONG] if len(tail) > MAX + 1 else [])
    too_long = sum(1 for c, e in lines if len(line_of(c, e)) > MAX) + (len(tail) > MAX + 1)
    assert got.count(TOO_LONG) == too_long


def test_content_cr_before_an_lf_end_is_not_counted_as_content():
    """The case that made the property above flaky: MAX+1 octets ending in CR, then LF."""
    content = b"a" * MAX + b"\r"
    assert split(content + b"\n", MAX) == [b"a" * MAX]
    assert len(line_of(content, b"\n")) == MAX


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_byte_by_byte_feeding(size):
    stream = b"USER a\r\n" + b"z" * 40 + b"\r\nPASS b c\n"
    buf = LineBuffer()
    got = []
    for i in range(0, len(stream), size):
        buf.feed(stream[i:i + size])
        got += drain(buf, MAX)
        assert buf.pending <= MAX + 1
    assert got == [b"USER a", TOO_LONG, b"PASS b c"]
