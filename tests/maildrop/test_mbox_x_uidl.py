"""mbox_reuse_x_uidl: qpopper's X-UIDL headers become UIDLs, so a migration re-downloads nothing."""

from __future__ import annotations

import os

from mbox_kit import build

from pop3d.maildrop.mbox import MboxMaildrop, Sidecars
from pop3d.maildrop.mbox_format import x_uidl_in_header

QPOPPER = "8c4a1f0e4b2d9a7c6e5f3b1a0d9c8b7a"
MESSAGES = [
    f"X-UIDL: {QPOPPER}\nSubject: one\n\nbody\n".encode(),
    b"Subject: two, no X-UIDL\n\nbody\n",
    b"X-UIDL: has a space\nSubject: three\n\nbody\n",
    f"Subject: four, a copy's X-UIDL\nx-uidl:   {QPOPPER}  \n\nbody\n".encode(),
    b"Subject: five\n\nX-UIDL: in-the-body-not-a-header\n",
]


def uids(path: str, reuse: bool) -> list[str]:
    with MboxMaildrop.open(path, reuse_x_uidl=reuse) as md:
        return [m.uid for m in md.messages()]


def test_header_parsing():
    assert x_uidl_in_header(f"X-UIDL: {QPOPPER}\r\nA: b\r\n\r\n".encode()) == QPOPPER
    assert x_uidl_in_header(b"A: b\nX-Uidl:\tabc\n\n") == "abc"
    assert x_uidl_in_header(b"A: b\n\nX-UIDL: abc\n") is None  # the body is not the header
    assert x_uidl_in_header(b"X-UIDL: " + b"x" * 71 + b"\n\n") is None
    assert x_uidl_in_header(b"X-UIDL: caf\xc3\xa9\n\n") is None
    assert x_uidl_in_header(b"XX-UIDL: abc\n\n") is None


def test_x_uidl_is_used_only_when_asked_valid_and_unique(tmp_path):
    path = str(tmp_path / "mbox")
    with open(path, "wb") as f:
        f.write(build(MESSAGES))
    plain = uids(path, reuse=False)
    assert QPOPPER not in plain
    os.unlink(Sidecars.for_mbox(path).index)
    reused = uids(path, reuse=True)
    assert reused[0] == QPOPPER
    # No header, a bad one, a duplicate, one only in the body: derived from the content as usual.
    assert reused[1:] == plain[1:]
    assert len(set(reused)) == len(reused)


def test_reused_uidls_stay_through_commits_and_a_lost_index(tmp_path):
    path = str(tmp_path / "mbox")
    with open(path, "wb") as f:
        f.write(build(MESSAGES))
    first = uids(path, reuse=True)
    with MboxMaildrop.open(path, reuse_x_uidl=True) as md:
        md.commit(frozenset({1}), frozenset())  # delete "two": the file is rewritten
    after = uids(path, reuse=True)
    assert after == first[:1] + first[2:]
    os.unlink(Sidecars.for_mbox(path).index)
    assert uids(path, reuse=True) == after
