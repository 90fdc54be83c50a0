"""The mbox UID index is checked column by column: any bad row makes the whole index ignored."""

from __future__ import annotations

import json

import pytest

from pop3d.maildrop import mbox_index
from pop3d.maildrop.mbox_index import Entry, Index
from pop3d.maildrop.safe_fs import Folder

NAME = ".mbox.pop3d-index"


@pytest.fixture
def folder(tmp_path):
    folder = Folder.open_root(str(tmp_path))
    entries = [Entry(0, 10, 50, 51, 45, False, "d1", "uid-1"), Entry(51, 60, 90, 91, 33, True, "d2", "uid-2")]
    mbox_index.save(folder, NAME, Index(1, 2, "mboxrd", 91, 91, 5, entries))
    yield folder
    folder.close()


def tamper(folder, change):
    path = folder.join(NAME)
    with open(path) as f:
        doc = json.load(f)
    change(doc["messages"])
    with open(path, "w") as f:
        json.dump(doc, f)


def test_good_index_loads_every_entry(folder):
    index = mbox_index.load(folder, NAME)
    assert [(e.start, e.uid, e.seen) for e in index.entries] == [(0, "uid-1", False), (51, "uid-2", True)]


@pytest.mark.parametrize("change", [
    lambda rows: rows[1].__setitem__(7, "bad uid"),  # a space is not a valid UIDL
    lambda rows: rows[1].__setitem__(7, ""),
    lambda rows: rows[0].__setitem__(1, 60),  # body after stop
    lambda rows: rows[0].__setitem__(0, -1),
    lambda rows: rows[0].__setitem__(4, "45"),
    lambda rows: rows[1].pop(),
    lambda rows: rows[1].__setitem__(0, 40),  # overlaps the first message
    lambda rows: rows.append("not a row"),
])
def test_index_with_one_bad_row_is_ignored(folder, change):
    tamper(folder, change)
    assert mbox_index.load(folder, NAME) is None
