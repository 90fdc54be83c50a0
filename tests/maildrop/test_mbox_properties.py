"""Property tests: what goes into an mbox comes out, and deletions keep the rest exactly."""

from __future__ import annotations

import os
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mbox_kit import build, entry, read_all, served

from pop3d.core.wire import wire_size
from pop3d.maildrop.mbox import MboxMaildrop, Sidecars

TRICKY_LINES = [b"From x", b"From ", b">From y", b">>From z", b">From", b".", b"..", b"", b"\r",
                b"Status: R", b"From: a@b", b" From x"]
line = st.one_of(st.sampled_from(TRICKY_LINES), st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")))
message = st.tuples(st.lists(line, max_size=12), st.sampled_from([b"\n", b"\r\n"]), st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] else b""))
settings_ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mboxo_safe(content: bytes) -> bool:
    return re.search(rb"(?m)^>+From ", content) is None


@settings_
@given(st.lists(message, max_size=8), st.sampled_from(["mboxrd", "mboxo"]), st.integers(1, 50))
def test_written_messages_read_back(msgs, fmt, chunk):
    if fmt == "mboxo":
        msgs = [m for m in msgs if _mboxo_safe(m)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mbox")
        with open(path, "wb") as f:
            f.write(build(msgs, fmt))
        with MboxMaildrop.open(path, fmt=fmt) as md:
            got = read_all(md, chunk)
            assert got == [served(m) for m in msgs]
            assert [i.size for i in md.messages()] == [wire_size([g]) for g in got]


@settings_
@given(st.lists(message, min_size=1, max_size=10), st.data(), st.lists(message, max_size=3))
def test_delete_subset_keeps_survivors_and_uids(msgs, data, appended):
    deleted = data.draw(st.sets(st.integers(0, len(msgs) - 1)))
    retrieved = data.draw(st.sets(st.integers(0, len(msgs) - 1)))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mbox")
        with open(path, "wb") as f:
            f.write(build(msgs))
        with MboxMaildrop.open(path) as md:
            uids = [m.uid for m in md.messages()]
            with open(path, "ab") as f:  # delivered during the session
                f.write(b"".join(entry(m, 100 + i) for i, m in enumerate(appended)))
            md.commit(frozenset(deleted), frozenset(retrieved))
        assert not os.path.exists(Sidecars.for_mbox(path).journal)
        with MboxMaildrop.open(path) as md:
            survivors = [i for i in range(len(msgs)) if i not in deleted]
            got = read_all(md)
            assert got == [served(msgs[i]) for i in survivors] + [served(m) for m in appended]
            assert [m.uid for m in md.messages()][: len(survivors)] == [uids[i] for i in survivors]
            assert len({m.uid for m in md.messages()}) == len(got)
        # Same bytes as if the survivors had been written directly, From lines included.
        with open(path, "rb") as f:
            expected = b"".join(entry(msgs[i], i) for i in survivors)
            expected += b"".join(entry(m, 100 + i) for i, m in enumerate(appended))
            assert f.read() == expected
