"""Maildirs taken over from Dovecot or Courier: their UIDLs and order, from the files they left.

Dovecot keeps ``dovecot-uidlist`` and Courier ``courierpop3dsizelist`` in the
Maildir's top folder; both are read through the maildrop package's safe-open
layer, as a file the user owns (a link or a FIFO there refuses the login).
"""

from __future__ import annotations

from collections.abc import Sequence

from pop3d.maildrop import Maildrop
from pop3d.maildrop.maildir_names import uid_base
from pop3d.maildrop.safe_fs import Folder
from pop3d.uidl import courier_sizelist, dovecot_uidlist
from pop3d.uidl.courier_sizelist import filename_uidl
from pop3d.uidl.remap import RemappedMaildrop
from pop3d.uidl.styles import UidlStyle, dovecot_order, final_uidls


def dovecot_maildir_uidls(style: UidlStyle, native: Sequence[str],
                          uidlist: dovecot_uidlist.UidList | None) -> tuple[list[int], list[str]]:
    """Order and UIDLs Dovecot gives a Maildir's messages (``native``: pop3d's UIDLs, listed order)."""
    assert style.template is not None
    # pop3d's UIDL of a Maildir message is its base name without ,S= and ,W= (maildir_names.uid_base).
    listed = uidlist.records if uidlist else {}
    records = {uid_base(name): (name, record) for name, record in listed.items()}
    old: list[str | None] = []
    keys: list[tuple[int | None, int] | None] = []
    for uid in native:
        found = records.get(uid)
        if found is None or uidlist is None:
            old.append(None)
            keys.append(None)
            continue
        name, record = found
        keys.append((record.pop3_order, record.uid))
        if record.pop3_uidl is not None:
            old.append(record.pop3_uidl or name)
        else:
            old.append(style.template.expand({"u": str(record.uid), "v": str(uidlist.uid_validity),
                                              "f": name, "g": record.guid or name}))
    order = dovecot_order(keys)
    return order, final_uidls([old[i] for i in order], [native[i] for i in order], style.template.alphabet())


def courier_maildir_uidls(native: Sequence[str], sizelist: dict[str, str] | None) -> list[str]:
    """The UIDLs Courier's pop3d gives a Maildir's messages (in pop3d's order, which is Courier's)."""
    if sizelist is None:  # Courier before its size list: the escaped file name, for old and new mail
        return final_uidls([filename_uidl(uid) for uid in native], native, None)
    known = {uid_base(name): uidl for name, uidl in sizelist.items()}
    # Courier's own are "UID<n>-<v>": anything without that shape cannot collide.
    return final_uidls([known.get(uid) for uid in native], native, frozenset("UID-0123456789"))


def maildir_view(maildrop: Maildrop, style: UidlStyle, root: str) -> Maildrop:
    """Dovecot's or Courier's UIDLs and order for a Maildir, from the files they keep in it."""
    native = [info.uid for info in maildrop.messages()]
    if style.server == "courier":
        data = read_maildir_file(root, courier_sizelist.NAME, courier_sizelist.MAX_SIZE)
        uids = courier_maildir_uidls(native, courier_sizelist.parse(data) if data is not None else None)
        return RemappedMaildrop(maildrop, range(len(native)), uids)
    data = read_maildir_file(root, dovecot_uidlist.NAME, dovecot_uidlist.MAX_SIZE)
    uidlist = dovecot_uidlist.parse(data) if data is not None else None
    order, uids = dovecot_maildir_uidls(style, native, uidlist)
    return RemappedMaildrop(maildrop, order, uids)


def read_maildir_file(root: str, name: str, limit: int) -> bytes | None:
    """A file the old server left in the Maildir at ``root`` (None if it has none).

    Through the maildrop's safe-open layer: a file the maildrop's owner does
    not own, a link, a FIFO or one over ``limit`` bytes raises UnsafeFile.
    """
    folder = Folder.open_root(root)
    if folder is None:
        return None
    with folder:
        return folder.read(name, limit, ours=False)
