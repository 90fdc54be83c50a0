"""Courier's POP3 UIDLs: ``courierpop3dsizelist`` in the Maildir, else escaped file names.

Courier's pop3d (courier-libs imap/pop3dserver.C) keeps, since version 2 of
the file::

    /3 NEXTUID UIDVALIDITY
    1764460800.M1P10.mx:2,S 51 1:1796172891:0      base name[:2,flags] size uid:uidv[:utf8]

and then sends ``UID<uid>-<uidv>`` (``UID<uid>`` when uidv is 0).  Messages
are matched by the file name up to the ``:``.  Without the file (version 0)
the UIDL is the file name up to the ``:``, with bytes outside 0x21-0x7E and
``'``, ``"``, ``+`` written as ``+XX``.
"""

from __future__ import annotations

import os

NAME = "courierpop3dsizelist"
MAX_SIZE = 64 << 20


def parse(data: bytes) -> dict[str, str] | None:
    """base file name -> UIDL; None when the file is not one Courier reads."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    head = lines[0].split()
    if not head or head[0] not in ("/2", "/3") or len(head) < 2:
        return None
    uidls = {}
    for line in lines[1:]:
        name, _, numbers = line.rpartition(" ")
        name = name.rpartition(" ")[0]
        fields = numbers.split(":")
        if not name or len(fields) < 2 or not (fields[0].isdigit() and fields[1].isdigit()):
            continue
        uid, validity = int(fields[0]), int(fields[1])
        if uid:
            uidls[name.partition(":")[0]] = f"UID{uid}-{validity}" if validity else f"UID{uid}"
    return uidls


def filename_uidl(base: str) -> str:
    """The version-0 UIDL of a message file whose name up to the ``:`` is ``base``."""
    out = []
    for byte in os.fsencode(base):
        if byte < 0x21 or byte > 0x7E or byte in b"'\"+":
            out.append(f"+{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)
