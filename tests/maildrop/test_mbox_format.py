"""mbox parsing: separators, quoting, sizes, Status, UIDs, and the index cache."""

from __future__ import annotations

import os

import pytest
from mbox_kit import build, entry, read_all

from pop3d.core.wire import encode_message, unstuff_lines, wire_size
from pop3d.maildrop import MaildropError, mbox_scan
from pop3d.maildrop.mbox import MboxMaildrop, Sidecars
from pop3d.maildrop.mbox_format import MessageStream
from pop3d.maildrop.mbox_index import valid_uid


def open_bytes(tmp_path, data: bytes, **kw) -> MboxMaildrop:
    path = tmp_path / "mbox"
    path.write_bytes(data)
    return MboxMaildrop.open(str(path), **kw)


def contents(tmp_path, data: bytes, **kw) -> list[bytes]:
    with open_bytes(tmp_path, data, **kw) as md:
        return read_all(md)


def test_from_line_separates_only_at_start_or_after_empty_line(tmp_path):
    data = (b"From a Mon Jan  1 00:00:00 2024\nSubject: 1\n\nhello\nFrom here, not a separator\n\n"
            b"From b Mon Jan  1 00:00:00 2024\nSubject: 2\n\nbye\n\n")
    assert contents(tmp_path, data) == [
        b"Subject: 1\n\nhello\nFrom here, not a separator\n",
        b"Subject: 2\n\nbye\n",
    ]


def test_from_line_and_separating_empty_line_are_not_served(tmp_path):
    [msg] = contents(tmp_path, b"From x Mon Jan  1 00:00:00 2024\nA: b\n\nbody\n\n")
    assert msg == b"A: b\n\nbody\n"


def test_mboxrd_removes_one_quote_level(tmp_path):
    data = b"From x\nS: 1\n\n>From a\n>>From b\n>>>From c\n> From d\n>Fromage\n\n"
    assert contents(tmp_path, data) == [b"S: 1\n\nFrom a\n>From b\n>>From c\n> From d\n>Fromage\n"]


def test_mboxo_unquotes_only_single_quote(tmp_path):
    data = b"From x\nS: 1\n\n>From a\n>>From b\n>>>From c\n\n"
    assert contents(tmp_path, data, fmt="mboxo") == [b"S: 1\n\nFrom a\n>>From b\n>>>From c\n"]


def test_quoted_line_at_content_start_is_unquoted(tmp_path):
    assert contents(tmp_path, b"From x\n>From first line\n\n") == [b"From first line\n"]


def test_last_message_without_final_newline(tmp_path):
    data = b"From a\nS: 1\n\none\n\nFrom b\nS: 2\n\ntwo, no newline"
    with open_bytes(tmp_path, data) as md:
        assert read_all(md) == [b"S: 1\n\none\n", b"S: 2\n\ntwo, no newline"]
        assert md.messages()[1].size == len(b"S: 2\r\n\r\ntwo, no newline\r\n")


def test_empty_file_is_empty_maildrop(tmp_path):
    with open_bytes(tmp_path, b"") as md:
        assert md.messages() == ()


def test_missing_file_is_empty_and_not_created(tmp_path):
    path = tmp_path / "mbox"
    with MboxMaildrop.open(str(path)) as md:
        assert md.messages() == ()
        md.commit(frozenset(), frozenset())
    assert not path.exists()


def test_crlf_stored_messages(tmp_path):
    data = b"From a\r\nS: 1\r\n\r\none\r\n\r\nFrom b\r\nS: 2\r\n\r\ntwo\r\n\r\n"
    with open_bytes(tmp_path, data) as md:
        assert read_all(md) == [b"S: 1\r\n\r\none\r\n", b"S: 2\r\n\r\ntwo\r\n"]
        assert [m.size for m in md.messages()] == [len(b"S: 1\r\n\r\none\r\n"), len(b"S: 2\r\n\r\ntwo\r\n")]


def test_text_before_first_from_line_is_served_not_hidden(tmp_path):
    assert contents(tmp_path, b"junk\n\nFrom a\nS: 1\n\n") == [b"junk\n", b"S: 1\n"]


def test_blank_lines_before_first_from_line_are_ignored(tmp_path):
    assert contents(tmp_path, b"\n\nFrom a\nS: 1\n\n") == [b"S: 1\n"]


def test_empty_message(tmp_path):
    assert contents(tmp_path, b"From a\n\nFrom b\nS: 2\n\n") == [b"", b"S: 2\n"]


@pytest.mark.parametrize("content", [
    b"S: 1\n\n.\n..\n.x\n",
    b"S: 1\r\n\r\nbody\r\n",
    b"S: 1\n\nmixed\r\nends\nno final newline",
    b"S: 1\n\nFrom quoted\n>From double\n",
    b"",
    b"\n",
    b"S: 1\n\nlone CR\r",
])
def test_size_equals_encoded_stream(tmp_path, content):
    with open_bytes(tmp_path, entry(content)) as md:
        reader = md.open_message(0)
        wire = encode_message(iter(lambda: reader.read(3), b""))
        lines = list(unstuff_lines(wire.split(b"\r\n")))
        assert md.messages()[0].size == sum(len(line) + 2 for line in lines)
        assert md.messages()[0].size == wire_size([md.open_message(0).read()])


def test_seen_only_from_status_header_with_r(tmp_path):
    data = build([b"Status: RO\nS: 1\n\nx\n", b"Status: O\n\nx\n", b"S: 3\n\nStatus: R\n",
                  b"status:  RO\n\n"])
    with open_bytes(tmp_path, data) as md:
        assert [m.seen for m in md.messages()] == [True, False, False, True]


@pytest.mark.parametrize("fmt", ["mboxrd", "mboxo"])
@pytest.mark.parametrize("chunk", [8, 9, 13, 64])
def test_lines_longer_than_a_chunk(tmp_path, fmt, chunk):
    """A long line (and a long run of '>') is streamed correctly in small chunks."""
    lines = [b">" * 50 + b"From x", b">From y" + b"z" * 40, b"a" * 100, b">" * 30, b">" * 30 + b"Fro"]
    raw = b"\n".join(lines) + b"\n"
    expected = raw.replace(b"\n>From y", b"\nFrom y")
    if fmt == "mboxrd":
        expected = expected.replace(b">" * 50 + b"From x", b">" * 49 + b"From x")
    if raw.startswith(b">From"):
        expected = expected[1:]
    path = tmp_path / "m"
    path.write_bytes(raw)
    fd = os.open(path, os.O_RDONLY)
    try:
        stream = MessageStream(fd, 0, len(raw), fmt, chunk_size=chunk)
        assert b"".join(iter(lambda: stream.read(5), b"")) == expected
    finally:
        os.close(fd)


def test_uids_valid_unique_and_stable(tmp_path):
    same = b"S: same\n\nx\n"
    data = b"".join(entry(same, 0) for _ in range(3)) + entry(b"S: other\n\n", 1)
    path = tmp_path / "mbox"
    path.write_bytes(data)
    with MboxMaildrop.open(str(path)) as md:
        uids = [m.uid for m in md.messages()]
    assert len(set(uids)) == 4 and all(valid_uid(u) for u in uids)
    with MboxMaildrop.open(str(path)) as md:
        assert [m.uid for m in md.messages()] == uids
    os.unlink(Sidecars.for_mbox(str(path)).index)
    with MboxMaildrop.open(str(path)) as md:
        assert [m.uid for m in md.messages()] == uids  # derived the same way without the index


def test_corrupt_index_is_ignored(tmp_path):
    path = tmp_path / "mbox"
    path.write_bytes(build([b"S: 1\n\n", b"S: 2\n\n"]))
    with MboxMaildrop.open(str(path)) as md:
        uids = [m.uid for m in md.messages()]
    for junk in (b"", b"{not json", b'{"version": 1, "messages": [[1, 2]]}'):
        with open(Sidecars.for_mbox(str(path)).index, "wb") as f:
            f.write(junk)
        with MboxMaildrop.open(str(path)) as md:
            assert [m.uid for m in md.messages()] == uids


def test_reopen_after_append_scans_only_the_tail(tmp_path, monkeypatch):
    path = tmp_path / "mbox"
    path.write_bytes(build([b"S: %d\n\nbody\n" % i for i in range(50)]))
    with MboxMaildrop.open(str(path)) as md:
        uids = [m.uid for m in md.messages()]
    with open(path, "ab") as f:
        f.write(entry(b"S: new\n\n", 99))
    starts = []
    real = mbox_scan._scan_range

    def recording(fd, start, *args):
        starts.append(start)
        return real(fd, start, *args)

    monkeypatch.setattr(mbox_scan, "_scan_range", recording)
    with MboxMaildrop.open(str(path)) as md:
        assert [m.uid for m in md.messages()][:50] == uids
        assert read_all(md)[-1] == b"S: new\n\n"
        assert len(md.messages()) == 51
    assert len(starts) == 1 and starts[0] > 0


def test_index_not_trusted_after_rewrite_by_another_program(tmp_path):
    """A mail reader expunged message 1 while we were away: offsets moved."""
    path = tmp_path / "mbox"
    msgs = [b"S: %d\n\nbody %d\n" % (i, i) for i in range(40)]
    path.write_bytes(build(msgs))
    with MboxMaildrop.open(str(path)) as md:
        uids = [m.uid for m in md.messages()]
    path.write_bytes(b"".join(entry(m, i) for i, m in enumerate(msgs) if i != 1) + entry(b"S: x\n\n" * 30, 7))
    with MboxMaildrop.open(str(path)) as md:
        assert read_all(md)[:39] == [m for i, m in enumerate(msgs) if i != 1]
        assert [m.uid for m in md.messages()][:39] == uids[:1] + uids[2:]


def test_symlink_is_refused(tmp_path):
    (tmp_path / "real").write_bytes(b"")
    os.symlink(tmp_path / "real", tmp_path / "mbox")
    with pytest.raises(MaildropError, match="symbolic link"):
        MboxMaildrop.open(str(tmp_path / "mbox"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_mbox_is_a_clear_error(tmp_path):
    path = tmp_path / "mbox"
    path.write_bytes(b"")
    path.chmod(0)
    with pytest.raises(MaildropError, match="permission denied"):
        MboxMaildrop.open(str(path))
    # The session lock was released: once readable, it opens.
    path.chmod(0o600)
    MboxMaildrop.open(str(path)).close()
