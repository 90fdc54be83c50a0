"""Wire encoding of stored messages: CRLF, dot-stuffing, sizes, TOP (pop3d.core.wire)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3d.core.wire import TERMINATOR, MessageEncoder, WireSizer, encode_message, unstuff_lines, wire_size

# -- helpers: the model the encoder must agree with --------------------------


def normalised_lines(message: bytes) -> list[bytes]:
    """Lines of a stored message: each ends at an LF (one CR before it belongs to the end).

    A last line without LF counts as if it had one.
    """
    if message and not message.endswith(b"\n"):
        message += b"\n"
    return [line[:-1] if line.endswith(b"\r") else line for line in message.split(b"\n")[:-1]]


def crlf(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def decode_wire(wire: bytes) -> list[bytes]:
    """Split a multi-line response body into lines, check the terminator, undo dot-stuffing."""
    assert wire.endswith(TERMINATOR)
    raw = wire.split(b"\r\n")
    assert raw[-1] == b""
    assert raw[-2] == b"."
    body = raw[:-2]
    assert b"." not in body, "an unstuffed '.' line would end the response early"
    return list(unstuff_lines(body + [b"."]))


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted(cuts)
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def encode(message: bytes, cuts: list[int], body_lines: int | None = None) -> bytes:
    encoder = MessageEncoder(body_lines)
    out = b"".join(encoder.feed(c) for c in chunks(message, cuts))
    return out + encoder.finish()


# -- examples ----------------------------------------------------------------


@pytest.mark.parametrize(("message", "wire"), [
    (b"", b".\r\n"),
    (b"a\nb\n", b"a\r\nb\r\n.\r\n"),
    (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
    (b"a\nb", b"a\r\nb\r\n.\r\n"),
    (b".\n", b"..\r\n.\r\n"),
    (b"..x\n.\r\n", b"...x\r\n..\r\n.\r\n"),
    (b"x\n.", b"x\r\n..\r\n.\r\n"),
    (b"a\rb\n", b"a\rb\r\n.\r\n"),
    (b"a\r\r\n", b"a\r\r\n.\r\n"),
    (b"\n\n", b"\r\n\r\n.\r\n"),
])
def test_encode_examples(message, wire):
    assert encode_message([message]) == wire
    assert encode_message([message[i:i + 1] for i in range(len(message))]) == wire


@pytest.mark.parametrize(("message", "size"), [
    (b"", 0), (b"a\n", 3), (b"a\r\n", 3), (b"a", 3), (b"a\r", 3), (b".\n", 3), (b"a\r\r\n", 4),
])
def test_size_examples(message, size):
    assert wire_size([message]) == size


def test_size_counts_lines():
    sizer = WireSizer()
    sizer.feed(b"a\nb\r\nc")
    assert sizer.finish() == 9
    assert sizer.lines == 3


MESSAGE = b"From: a\r\nSubject: b\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n"


@pytest.mark.parametrize(("n", "body"), [
    (0, []), (1, [b"line 1"]), (2, [b"line 1", b".line 2"]), (3, [b"line 1", b".line 2", b"line 3"]),
    (99, [b"line 1", b".line 2", b"line 3"]),
])
def test_top_sends_header_blank_line_and_n_body_lines(n, body):
    wire = encode_message([MESSAGE], body_lines=n)
    assert decode_wire(wire) == [b"From: a", b"Subject: b", b"", *body]


def test_top_without_blank_line_sends_whole_header():
    assert decode_wire(encode_message([b"A: 1\nB: 2"], body_lines=0)) == [b"A: 1", b"B: 2"]


def test_top_encoder_reports_done_and_ignores_later_chunks():
    encoder = MessageEncoder(body_lines=1)
    out = encoder.feed(b"H: 1\n\nbody 1\nbody 2\n")
    assert encoder.done
    assert encoder.feed(b"more\n") == b""
    assert out + encoder.finish() == b"H: 1\r\n\r\nbody 1\r\n.\r\n"


def test_unstuff_lines_stops_at_terminator():
    assert list(unstuff_lines([b"..a", b"b", b".", b"after"])) == [b".a", b"b"]


# -- properties --------------------------------------------------------------

fragments = st.sampled_from([b".", b"..", b"\r", b"\n", b"\r\n", b"a", b"b c", b"\x00", b"\xff", b"From "])
messages = st.one_of(
    st.lists(fragments, max_size=40).map(b"".join),
    st.binary(max_size=200),
)


@settings(max_examples=150)
@given(messages, st.data())
def test_encoding_round_trip_any_split(message, data):
    cuts = data.draw(st.lists(st.integers(0, len(message)), max_size=10))
    assert decode_wire(encode(message, cuts)) == normalised_lines(message)


@settings(max_examples=150)
@given(messages, st.data())
def test_size_equals_unstuffed_wire_octets_any_split(message, data):
    cuts = data.draw(st.lists(st.integers(0, len(message)), max_size=10))
    sizer = WireSizer()
    for chunk in chunks(message, cuts):
        sizer.feed(chunk)
    size = sizer.finish()
    lines = decode_wire(encode(message, cuts))
    assert size == len(crlf(lines)) == len(crlf(normalised_lines(message)))
    assert sizer.lines == len(lines)


@settings(max_examples=150)
@given(messages, st.integers(0, 8), st.data())
def test_top_round_trip_any_split(message, n, data):
    cuts = data.draw(st.lists(st.integers(0, len(message)), max_size=10))
    lines = normalised_lines(message)
    if b"" in lines:
        blank = lines.index(b"")
        expected = lines[:blank + 1 + n]
    else:
        expected = lines
    assert decode_wire(encode(message, cuts, body_lines=n)) == expected


@given(messages, st.integers(0, 8))
def test_encode_message_matches_streaming_encoder(message, n):
    pieces = [message[i:i + 3] for i in range(0, len(message), 3)]
    assert encode_message(pieces) == encode(message, [])
    assert encode_message(pieces, body_lines=n) == encode(message, [], body_lines=n)


# -- lines of any length: linear time, bounded memory ------------------------------


def test_64mb_line_without_newline_streams_as_it_is_fed():
    """A message with no newline froze the server: every chunk re-copied all before it."""
    chunk = b"x" * 65536
    encoder, sizer = MessageEncoder(), WireSizer()
    for _ in range(1024):  # 64 MB
        # Output keeps pace with input: nothing of the endless line is held back.
        assert len(encoder.feed(chunk)) == len(chunk)
        sizer.feed(chunk)
    assert encoder.finish() == b"\r\n" + TERMINATOR
    assert sizer.finish() == 64 * 1024 * 1024 + 2


def test_only_a_final_cr_is_held_back_between_chunks():
    encoder = MessageEncoder()
    assert encoder.feed(b"abc\r") == b"abc"
    assert encoder.feed(b"\n.def\r") == b"\r\n..def"
    assert encoder.feed(b"\r") == b"\r"  # the first CR was content after all
    assert encoder.finish() == b"\r\n" + TERMINATOR


def test_top_finds_the_header_end_split_across_chunks():
    encoder = MessageEncoder(body_lines=1)
    out = encoder.feed(b"Subject: x\r") + encoder.feed(b"\n\r") + encoder.feed(b"\n.one\ntwo\n")
    assert encoder.done
    assert out + encoder.finish() == b"Subject: x\r\n\r\n..one\r\n.\r\n"
