"""Wire sizes of Maildir messages, with a persistent cache.

A message's wire size (CRLF line ends, see :mod:`pop3d.core.wire`) differs
from its file size, and computing it means reading the whole file.  To open
a large Maildir in seconds we avoid that:

* Dovecot/Courier's ``,W=`` field is the CRLF size.  It equals our rule for
  every message that ends in a newline; for one that does not, we add a CRLF
  and Dovecot does not.  So ``,W=`` is trusted only when ``,S=`` (if present)
  matches the file size and the file's last byte (one ``pread``) is LF.
* Otherwise the file is streamed in chunks through :class:`WireSizer`, and
  the result kept in ``pop3d-sizes`` in the Maildir, keyed by unique name,
  file size and mtime (ns): a message edited in place changes size or mtime
  and is measured again; flag changes and moves keep both.

The cache is only an optimisation: a missing, unreadable or corrupt file is
treated as empty, and a failure to write it is ignored.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from twisted.logger import Logger

from pop3d.core.wire import WireSizer
from pop3d.fileio import pread_chunks
from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.maildir_names import MaildirName
from pop3d.maildrop.safe_fs import Folder

CACHE_NAME = "pop3d-sizes"
_HEADER = b"pop3d-sizes 1\n"
#: A bigger cache file is not a cache pop3d wrote (about 60 bytes per message).
_MAX_CACHE = 256 << 20
_FS_ENCODING = sys.getfilesystemencoding()

log = Logger()


class SizeCache:
    """unique name -> (file size, mtime ns, wire size), loaded and saved as one file."""

    def __init__(self, folder: Folder, entries: dict[str, tuple[int, int, int]]) -> None:
        self.folder = folder
        self.path = folder.join(CACHE_NAME)
        self._entries = entries
        self._changed = False

    @classmethod
    def load(cls, folder: Folder) -> SizeCache:
        """The cache in the Maildir ``folder``; empty if missing, unreadable or not a plain file."""
        try:
            data = folder.read(CACHE_NAME, _MAX_CACHE)
        except (OSError, MaildropError) as exc:
            log.warn("ignoring size cache {path}: {err}", path=folder.join(CACHE_NAME), err=exc)
            data = None
        return cls(folder, _parse(data) if data else {})

    def get(self, unique: str, file_size: int, mtime_ns: int) -> int | None:
        entry = self._entries.get(unique)
        if entry is not None and entry[0] == file_size and entry[1] == mtime_ns:
            return entry[2]
        return None

    def put(self, unique: str, file_size: int, mtime_ns: int, wire: int) -> None:
        self._entries[unique] = (file_size, mtime_ns, wire)
        self._changed = True

    def save(self, present: Iterable[str]) -> None:
        """Forget messages not ``present``; rewrite the file atomically if anything changed."""
        keep = set(present)
        stale = [unique for unique in self._entries if unique not in keep]
        for unique in stale:
            del self._entries[unique]
        if not (self._changed or stale):
            return
        self.folder.replace(CACHE_NAME, _format(self._entries))
        self._changed = False


def _parse(data: bytes) -> dict[str, tuple[int, int, int]]:
    if not data.startswith(_HEADER):
        return {}
    # File names are bytes; decode them as os.fsdecode does, all at once.
    text = data[len(_HEADER):].decode(_FS_ENCODING, "surrogateescape")
    entries = {}
    for line in text.split("\n"):
        fields = line.split(" ", 3)
        if len(fields) != 4:
            continue
        try:
            entries[fields[3]] = (int(fields[1]), int(fields[2]), int(fields[0]))
        except ValueError:
            continue
    return entries


def _format(entries: dict[str, tuple[int, int, int]]) -> bytes:
    lines = [
        f"{wire} {size} {mtime} {unique}\n"
        for unique, (size, mtime, wire) in entries.items()
        if "\n" not in unique  # cannot be stored on one line: measured every time
    ]
    return _HEADER + "".join(lines).encode(_FS_ENCODING, "surrogateescape")


def _trusted_virtual_size(fd: int, name: MaildirName, file_size: int) -> int | None:
    """The ``,W=`` size if it describes this file and agrees with our rule, else None."""
    fields = name.size_fields()
    virtual = fields.get("W")
    if virtual is None or fields.get("S", file_size) != file_size or virtual < file_size:
        return None
    ends_in_lf = os.pread(fd, 1, file_size - 1) == b"\n"
    return virtual if ends_in_lf else None


def measure(fd: int, name: MaildirName, file_size: int) -> int:
    """Wire size of the message open as ``fd``, ``file_size`` bytes long (in linear time and
    constant memory, whatever its line lengths).

    Reads until end of file, so a file still growing is measured as read.
    """
    if file_size == 0:
        return 0
    virtual = _trusted_virtual_size(fd, name, file_size)
    if virtual is not None:
        return virtual
    sizer = WireSizer()
    for chunk in pread_chunks(fd, 0):
        sizer.feed(chunk)
    return sizer.finish()
