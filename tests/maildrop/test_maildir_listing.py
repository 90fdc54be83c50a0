"""Maildir listing: which files are messages, their order, UIDLs, open_message."""

from __future__ import annotations

import os
import re

import pytest
from maildir_kit import deliver, files, make_maildir, opened, uids

from pop3d.maildrop import EmptyMaildrop, Location, MaildropError, open_maildrop
from pop3d.maildrop.maildir import MaildirMaildrop
from pop3d.maildrop.maildir_names import assign_uids

VALID_UID = re.compile(r"[\x21-\x7e]{1,70}\Z")


def test_missing_maildir_is_empty_and_nothing_is_created(tmp_path):
    root = tmp_path / "Maildir"
    maildrop = MaildirMaildrop.open(str(root))
    assert isinstance(maildrop, EmptyMaildrop)
    assert maildrop.messages() == ()
    maildrop.commit(frozenset(), frozenset())
    assert not root.exists()


def test_maildir_without_subdirs_is_empty_and_gets_no_subdirs(tmp_path):
    with opened(tmp_path) as maildrop:
        assert maildrop.messages() == ()
        maildrop.commit(frozenset(), frozenset())
    assert not any((tmp_path / sub).exists() for sub in ("new", "cur", "tmp"))


def test_file_instead_of_maildir_is_an_error(tmp_path):
    (tmp_path / "mail").write_text("x")
    with pytest.raises(MaildropError):
        MaildirMaildrop.open(str(tmp_path / "mail"))


def test_open_maildrop_dispatches_to_maildir(tmp_path):
    deliver(make_maildir(tmp_path), "1.a")
    with open_maildrop(Location("maildir", str(tmp_path))) as maildrop:
        assert isinstance(maildrop, MaildirMaildrop)
        assert [m.uid for m in maildrop.messages()] == ["1.a"]


def test_only_message_files_in_new_and_cur_are_listed(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "100.new")
    deliver(root, "200.cur", subdir="cur", flags="")
    deliver(root, ".hidden", subdir="cur")
    deliver(root, "300.tmp", subdir="tmp")
    (root / "cur" / "subdir").mkdir()
    os.symlink(root / "new" / "100.new", root / "cur" / "400.link:2,")
    sent = make_maildir(root / ".Sent")
    deliver(sent, "500.sent")
    assert uids(root) == ["100.new", "200.cur"]


def test_order_is_by_delivery_time_then_name(tmp_path):
    root = make_maildir(tmp_path)
    for unique in ("1000.b", "999.z", "1000.a"):
        deliver(root, unique)
    deliver(root, "998.c", subdir="cur", flags="S")
    assert uids(root) == ["998.c", "999.z", "1000.a", "1000.b"]


def test_unnumbered_names_sort_by_mtime(tmp_path):
    root = make_maildir(tmp_path)
    os.utime(deliver(root, "zzz"), (1500, 1500))
    os.utime(deliver(root, "aaa"), (2500, 2500))
    deliver(root, "2000.m")
    assert uids(root) == ["zzz", "2000.m", "aaa"]


def test_seen_is_the_s_flag(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.new")
    deliver(root, "2.seen", subdir="cur", flags="RS")
    deliver(root, "3.flagged", subdir="cur", flags="F")
    with opened(root) as maildrop:
        assert [m.seen for m in maildrop.messages()] == [False, True, False]


def test_uid_is_the_unique_part_without_size_fields(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.M1P2.host,S=20,W=21", subdir="cur", flags="S")
    deliver(root, "2.M1P2.host")
    assert uids(root) == ["1.M1P2.host", "2.M1P2.host"]


def test_uid_unchanged_by_flags_and_move_to_cur(tmp_path):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a,S=20")
    before = uids(root)
    os.rename(path, root / "cur" / "1.a,S=20:2,FS")
    assert uids(root) == before == ["1.a"]


def test_duplicate_in_new_and_cur_is_listed_once(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.a")
    deliver(root, "1.a", subdir="cur", flags="S")
    with opened(root) as maildrop:
        assert [(m.uid, m.seen) for m in maildrop.messages()] == [("1.a", True)]


def test_invalid_unique_names_get_valid_distinct_stable_uids(tmp_path):
    root = make_maildir(tmp_path)
    odd = ["1." + "x" * 80, "2.with space", "3.caf\u00e9", "4.tab\there"]
    for unique in odd:
        deliver(root, unique)
    first = uids(root)
    assert all(VALID_UID.match(uid) for uid in first), first
    assert len(set(first)) == len(odd)
    assert not set(first) & set(odd)
    assert uids(root) == first


def test_undecodable_file_name_gets_a_valid_uid(tmp_path):
    root = make_maildir(tmp_path)
    os.close(os.open(os.path.join(os.fsencode(root), b"new", b"5.\xff\xfe"), os.O_CREAT | os.O_WRONLY))
    [uid] = uids(root)
    assert VALID_UID.match(uid)


def test_uid_collisions_are_resolved_deterministically():
    # Two names that differ only in their size fields share a base.
    first = assign_uids(["1.a,S=1", "1.a,S=2"])
    assert first[0] == "1.a" and first[1] != "1.a" and VALID_UID.match(first[1])
    assert assign_uids(["1.a,S=1", "1.a,S=2"]) == first


def test_open_message_streams_the_stored_bytes(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.a", b"first\n")
    deliver(root, "2.b", b"second\r\n", subdir="cur", flags="S")
    with opened(root) as maildrop:
        for index, expected in enumerate([b"first\n", b"second\r\n"]):
            reader = maildrop.open_message(index)
            try:
                assert reader.read() == expected
            finally:
                reader.close()


def test_open_message_finds_a_message_moved_by_another_client(tmp_path):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a", b"body\n")
    with opened(root) as maildrop:
        os.rename(path, root / "cur" / "1.a:2,S")
        reader = maildrop.open_message(0)
        assert reader.read() == b"body\n"
        reader.close()
        os.rename(root / "cur" / "1.a:2,S", root / "cur" / "1.a:2,RS")
        reader = maildrop.open_message(0)
        assert reader.read() == b"body\n"
        reader.close()


def test_open_message_of_a_removed_message_raises(tmp_path):
    root = make_maildir(tmp_path)
    path = deliver(root, "1.a")
    with opened(root) as maildrop:
        path.unlink()
        with pytest.raises(MaildropError):
            maildrop.open_message(0)
        with pytest.raises(MaildropError):
            maildrop.open_message(1)
    assert files(root, "new") == []


def test_message_found_after_cur_is_replaced_by_a_new_folder_mid_session(tmp_path):
    """The session keeps new/ and cur/ open; a folder swapped under it is opened afresh, not trusted."""
    root = make_maildir(tmp_path)
    deliver(root, "1.m", b"first\n", subdir="cur", flags="")
    deliver(root, "2.m", b"second\n", subdir="cur", flags="")
    with opened(root) as maildrop:
        maildrop.open_message(0).close()  # cur/ is now open in the session
        os.rename(root / "cur", root / "old-cur")
        (root / "cur").mkdir()
        os.rename(root / "old-cur" / "2.m:2,", root / "cur" / "2.m:2,S")
        reader = maildrop.open_message(1)
        assert reader.read() == b"second\n"
        reader.close()
