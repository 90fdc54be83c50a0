"""The bounded line splitter (pop3d.core.lines)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3d.core.lines import TOO_LONG, LineBuffer


def test_lf_and_crlf_both_end_a_line():
    buf = LineBuffer(100)
    assert buf.feed(b"STAT\r\nNOOP\nLIST 1\r\n") == [b"STAT", b"NOOP", b"LIST 1"]
    assert buf.pending == 0


def test_partial_line_is_kept_until_its_end():
    buf = LineBuffer(100)
    assert buf.feed(b"RE") == []
    assert buf.pending == 2
    assert buf.feed(b"TR 1\r") == []
    assert buf.feed(b"\n") == [b"RETR 1"]
    assert buf.pending == 0


def test_only_one_cr_is_stripped():
    assert LineBuffer(100).feed(b"A\r\r\n") == [b"A\r"]


def test_lone_cr_does_not_end_a_line():
    assert LineBuffer(100).feed(b"A\rB\n") == [b"A\rB"]


def test_empty_lines():
    assert LineBuffer(100).feed(b"\r\n\n") == [b"", b""]


def test_line_of_exactly_max_length_passes():
    assert LineBuffer(4).feed(b"abcd\r\n") == [b"abcd"]


def test_crlf_split_across_reads_at_the_limit():
    buf = LineBuffer(4)
    assert buf.feed(b"abcd\r") == []
    assert buf.pending == 5
    assert buf.feed(b"\n") == [b"abcd"]


def test_line_one_over_max_is_too_long():
    assert LineBuffer(4).feed(b"abcde\r\nok\r\n") == [TOO_LONG, b"ok"]


def test_unterminated_flood_is_dropped_as_it_arrives():
    buf = LineBuffer(10)
    for _ in range(1000):
        assert buf.feed(b"x" * 100) == []
        assert buf.pending <= 11
    assert buf.feed(b"\r\nNOOP\r\n") == [TOO_LONG, b"NOOP"]


def test_clear_drops_pending_bytes_and_discard_mode():
    buf = LineBuffer(4)
    buf.feed(b"x" * 20)
    buf.clear()
    assert buf.pending == 0
    assert buf.feed(b"ok\r\n") == [b"ok"]


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


@settings(max_examples=150)
@given(st.lists(st.tuples(line_content, st.sampled_from([b"\n", b"\r\n"]))), line_content, st.data())
def test_random_lines_random_splits(lines, tail, data):
    stream = b"".join(content + end for content, end in lines) + tail
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    buf = LineBuffer(MAX)
    got: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += buf.feed(stream[start:end])
        assert buf.pending <= MAX + 1
    assert got == expected_lines(stream)
    assert got.count(TOO_LONG) == sum(1 for c, _ in lines if len(c) > MAX)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_byte_by_byte_feeding(size):
    stream = b"USER a\r\n" + b"z" * 40 + b"\r\nPASS b c\n"
    buf = LineBuffer(MAX)
    got = []
    for i in range(0, len(stream), size):
        got += buf.feed(stream[i:i + size])
        assert buf.pending <= MAX + 1
    assert got == [b"USER a", TOO_LONG, b"PASS b c"]
