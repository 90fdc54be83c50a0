"""Finding one header line for XTND XLIST, reading only the message's header."""

from __future__ import annotations

import io

from pop3d.server.xlist import find_header, header_lines


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def lookup(data: bytes, name: str, limit: int = 256 * 1024) -> bytes | None:
    return find_header(header_lines(CountingReader(data), limit), name)


def test_first_match_case_insensitive_and_unfolded():
    msg = b"Received: x\r\nsubject: first\r\n  folded\r\nSubject: second\r\n\r\nSubject: body\r\n"
    assert lookup(msg, "SUBJECT") == b"subject: first  folded"


def test_header_only_not_the_body():
    assert lookup(b"From: a\n\nSubject: in the body\n", "Subject") is None


def test_last_header_line_without_newline_and_fold_at_end():
    assert lookup(b"From: a\nSubject: x\n\ty", "subject") == b"Subject: x\ty"


def test_name_must_match_whole_field_name():
    assert lookup(b"Subject-Extra: no\nX-Subject: no\n\n", "Subject") is None


def test_reading_stops_at_the_blank_line():
    reader = CountingReader(b"Subject: s\n\n" + b"x" * 1_000_000)
    assert find_header(header_lines(reader), "subject") == b"Subject: s"
    assert reader.consumed <= 8192


def test_huge_header_is_bounded():
    reader = CountingReader(b"X-Junk: " + b"j" * 1_000_000 + b"\nSubject: late\n\n")
    assert find_header(header_lines(reader, limit=64 * 1024), "subject") is None
    assert reader.consumed <= 64 * 1024 + 8192
