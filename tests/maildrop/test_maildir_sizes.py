"""Maildir sizes are wire sizes, and the size cache avoids reading bodies."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maildir_kit import deliver, make_maildir, opened

from pop3d.core.wire import encode_message, unstuff_lines, wire_size
from pop3d.maildrop.maildir_sizes import CACHE_NAME

SAMPLES = {
    "lf": b"Subject: a\n\nline\n.dot\n",
    "crlf": b"Subject: a\r\n\r\nline\r\n.dot\r\n",
    "no-final-newline": b"Subject: a\n\nlast line",
    "crlf-no-final-newline": b"Subject: a\r\n\r\nlast",
    "mixed": b"a\r\nb\nc\r\r\nd",
    "empty": b"",
    "only-newline": b"\n",
}


def crlf_size(data: bytes) -> int:
    """The CRLF form's length, converted by hand (no lone CR at the very end)."""
    text = data.replace(b"\r\n", b"\n")
    if text and not text.endswith(b"\n"):
        text += b"\n"
    return len(text.replace(b"\n", b"\r\n"))


def encoded_size(data: bytes) -> int:
    """Length of what RETR sends, dot-stuffing and terminator removed."""
    lines = encode_message([data]).split(b"\r\n")
    return sum(len(line) + 2 for line in unstuff_lines(lines))


def listed_sizes(root: Path) -> list[int]:
    with opened(root) as maildrop:
        return [m.size for m in maildrop.messages()]


@pytest.fixture
def samples(tmp_path):
    root = make_maildir(tmp_path)
    for number, body in enumerate(SAMPLES.values(), start=1):
        deliver(root, f"{number}.sample", body)
    return root


def test_sizes_are_wire_sizes_not_file_sizes(samples):
    expected = [crlf_size(body) for body in SAMPLES.values()]
    assert expected == [encoded_size(body) for body in SAMPLES.values()]
    assert expected == [wire_size([body]) for body in SAMPLES.values()]
    assert listed_sizes(samples) == expected
    assert listed_sizes(samples) != [len(body) for body in SAMPLES.values()]


def test_large_message_is_measured_across_chunks(tmp_path):
    root = make_maildir(tmp_path)
    body = b"".join(b"line %d\n" % i if i % 3 else b"crlf %d\r\n" % i for i in range(40_000))
    deliver(root, "1.big", body + b"tail")
    assert listed_sizes(root) == [crlf_size(body + b"tail")]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200).map(lambda b: b.translate(bytes(b"a\r\n."[i % 4] for i in range(256)))))
def test_any_content_lists_its_wire_size(body):
    with tempfile.TemporaryDirectory() as tmp:
        root = make_maildir(Path(tmp))
        deliver(root, "1.x", body)
        assert listed_sizes(root) == [wire_size([body])] == [encoded_size(body)]
        assert listed_sizes(root) == [wire_size([body])]  # again, from the cache


def test_dovecot_w_size_is_trusted_when_the_file_ends_in_newline(tmp_path):
    root = make_maildir(tmp_path)
    body = b"a\nb\n"
    # A deliberately different W proves that it was used instead of reading.
    deliver(root, f"1.dove,S={len(body)},W=99", body)
    assert listed_sizes(root) == [99]


def test_dovecot_w_size_is_not_trusted_without_final_newline(tmp_path):
    root = make_maildir(tmp_path)
    body = b"a\nb"
    deliver(root, f"1.dove,S={len(body)},W=5", body)
    assert listed_sizes(root) == [crlf_size(body)] == [6]


def test_dovecot_w_size_is_not_trusted_when_s_does_not_match(tmp_path):
    root = make_maildir(tmp_path)
    body = b"edited since delivery\n"
    deliver(root, "1.dove,S=5,W=99", body)
    assert listed_sizes(root) == [crlf_size(body)]


class BodyReads:
    """Counts opens of message files (files opened relative to new/ or cur/) via os.open."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real_open = os.open

        def counting_open(path, *args, **kwargs):
            text = os.fsdecode(path)
            dir_fd = kwargs.get("dir_fd")
            folder = os.readlink(f"/proc/self/fd/{dir_fd}") if dir_fd is not None else ""
            if os.path.basename(folder) in ("new", "cur"):
                self.paths.append(text)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", counting_open)


def test_second_open_reads_no_bodies(samples, monkeypatch):
    first = listed_sizes(samples)
    assert (samples / CACHE_NAME).exists()
    reads = BodyReads(monkeypatch)
    assert listed_sizes(samples) == first
    assert reads.paths == []


def test_first_open_reads_each_body_once(samples, monkeypatch):
    reads = BodyReads(monkeypatch)
    listed_sizes(samples)
    assert len(reads.paths) == len(SAMPLES)


def test_flag_change_keeps_the_cache_entry(tmp_path, monkeypatch):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a", b"x\ny\n")
    assert listed_sizes(root) == [6]
    os.rename(path, root / "cur" / "1.a:2,S")
    reads = BodyReads(monkeypatch)
    assert listed_sizes(root) == [6]
    assert reads.paths == []


def test_edited_message_is_measured_again(tmp_path):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a", b"abc\n")
    assert listed_sizes(root) == [5]
    path.write_bytes(b"a\nb\n")  # same file size, different wire size
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert listed_sizes(root) == [6]


def test_cache_is_rewritten_only_when_it_changed(samples):
    listed_sizes(samples)
    cache = samples / CACHE_NAME
    before = cache.stat()
    listed_sizes(samples)
    after = cache.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    deliver(samples, "99.new", b"more\n")
    listed_sizes(samples)
    assert cache.stat().st_ino != before.st_ino
    assert not [n for n in os.listdir(samples) if n.startswith(".")]


def test_cache_forgets_messages_that_are_gone(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.a")
    gone = deliver(root, "2.b")
    listed_sizes(root)
    gone.unlink()
    listed_sizes(root)
    assert b"2.b" not in (root / CACHE_NAME).read_bytes()
    assert b"1.a" in (root / CACHE_NAME).read_bytes()


@pytest.mark.parametrize("garbage", [b"", b"not a cache\n", b"pop3d-sizes 1\n1 2\nx y z 1.a\n\xff\n"])
def test_corrupt_cache_is_ignored(samples, garbage):
    expected = listed_sizes(samples)
    (samples / CACHE_NAME).write_bytes(garbage)
    assert listed_sizes(samples) == expected


def test_wrong_cache_entry_with_other_size_is_not_trusted(tmp_path):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a", b"abc\n")
    stat = path.stat()
    (root / CACHE_NAME).write_bytes(b"pop3d-sizes 1\n1234 %d %d 1.a\n" % (stat.st_size + 1, stat.st_mtime_ns))
    assert listed_sizes(root) == [5]


def test_unwritable_cache_does_not_fail_the_open(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.a", b"abc\n")
    (root / CACHE_NAME).mkdir()  # rename over a directory fails
    assert listed_sizes(root) == [5]


def test_many_cache_misses_are_measured_in_parallel_correctly(tmp_path):
    root = make_maildir(tmp_path)
    bodies = [b"line\n" * (i % 7) + b"x" * (i % 3) for i in range(300)]
    for i, body in enumerate(bodies):
        deliver(root, f"{1000 + i}.many", body)
    assert listed_sizes(root) == [wire_size([body]) for body in bodies]
