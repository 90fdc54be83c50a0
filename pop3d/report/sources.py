"""Read the lines of mail.log files: plain, rotated (``mail.log.1``) or gzipped, or stdin.

Compression is recognised by the gzip magic number, not the file name, so
``mail.log.2.gz`` and a gzipped log piped to ``-`` both work.  Bytes that are
not UTF-8 are replaced, never fatal.  A gzip file cut short (rotation caught
mid-write) yields the lines before the cut and then raises :class:`LogReadError`.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"


class LogReadError(Exception):
    """A log could not be opened or read to its end."""


@contextmanager
def open_log(name: str) -> Iterator[tuple[BinaryIO, datetime]]:
    """The log's byte stream and the reference time for its year-less time stamps.

    The reference is the file's modification time (the time of its last line);
    for standard input, now.
    """
    try:
        if name == "-":
            raw: BinaryIO = sys.stdin.buffer
            reference = datetime.now()
        else:
            raw = open(name, "rb")  # noqa: SIM115 - closed below
            reference = datetime.fromtimestamp(os.fstat(raw.fileno()).st_mtime)
    except OSError as exc:
        raise LogReadError(f"{name}: {exc.strerror or exc}") from None
    try:
        if not hasattr(raw, "peek"):
            raw = io.BufferedReader(raw)  # type: ignore[arg-type]
        if raw.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        else:
            stream = raw
        yield stream, reference
    finally:
        if name != "-":
            raw.close()


def read_lines(name: str, stream: BinaryIO) -> Iterator[str]:
    """Each line of ``stream`` without its line ending."""
    try:
        for raw_line in stream:
            yield raw_line.decode("utf-8", "replace").rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise LogReadError(f"{name}: {exc}") from None
