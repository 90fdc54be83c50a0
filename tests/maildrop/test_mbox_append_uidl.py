"""UIDLs of an mbox survive mail appended after a last message that lacks its blank line.

Writers end each message with an empty line, which the next ``From `` line
needs; a last message written without it gets it from the next delivery
(procmail, mutt and others add the missing line before appending).  Keep-mode
clients download a message again when its UIDL changes, so a message's UIDL
must depend on the message only, not on the separator bytes after it.
"""

from __future__ import annotations

import os

import pytest

from pop3d.maildrop.mbox import MboxMaildrop, Sidecars

HEAD = b"From sender@example.org Thu Jan  1 00:00:00 2026\n"
MESSAGES = [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n",
            b"Subject: three\n\nlast, no blank line\n"]


def uids(path: str) -> list[str]:
    with MboxMaildrop.open(path) as maildrop:
        return [m.uid for m in maildrop.messages()]


@pytest.mark.parametrize("keep_index", [True, False])
def test_appending_after_a_last_message_without_blank_line_keeps_every_uidl(tmp_path, keep_index):
    path = str(tmp_path / "mbox")
    with open(path, "wb") as f:
        f.write(b"\n".join(HEAD + m for m in MESSAGES))  # no empty line after the last one
    before = uids(path)
    assert len(before) == 3
    if not keep_index:
        os.unlink(Sidecars.for_mbox(path).index)
    with open(path, "ab") as f:  # the next delivery adds the missing empty line first
        f.write(b"\n" + HEAD + b"Subject: four\n\nnew\n\n")
    after = uids(path)
    assert after[:3] == before and len(after) == 4


def test_uidl_of_a_last_message_is_the_same_with_or_without_its_blank_line(tmp_path):
    with_blank, without = str(tmp_path / "a"), str(tmp_path / "b")
    with open(with_blank, "wb") as f:
        f.write(HEAD + MESSAGES[0] + b"\n")
    with open(without, "wb") as f:
        f.write(HEAD + MESSAGES[0])
    assert uids(with_blank) == uids(without)
