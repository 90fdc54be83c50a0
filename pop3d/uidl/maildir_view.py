"""Maildirs taken over from Dovecot or Courier: their UIDLs and order, from the files they left.

Dovecot keeps ``dovecot-uidlist`` and Courier ``courierpop3dsizelist`` in the
Maildir's top folder; both are read through the maildrop package's safe-open
layer, as a file the user owns (a link or a FIFO there refuses the login).
"""

from __future__ import annotations

from collections.abc import Sequence

from pop3d.maildrop import Maildrop
from pop3d.maildrop.maildir import MaildirMaildrop
from pop3d.maildrop.safe_fs import Folder
from pop3d.uidl import courier_sizelist, dovecot_uidlist
from pop3d.uidl.courier_sizelist import filename_uidl
from pop3d.uidl.remap import RemappedMaildrop
from pop3d.uidl.styles import UidlStyle, dovecot_order, final_uidls


def dovecot_maildir_uidls(style: UidlStyle, names: Sequence[str], native: Sequence[str],
                          uidlist: dovecot_uidlist.UidList | None) -> tuple[list[int], list[str]]:
    """Order and UIDLs Dovecot gives a Maildir's messages.

    ``names``: the file names up to ``:2,``; ``native``: pop3d's UIDLs (both in listing order).
    A message Dovecot has not numbered yet still gets Dovecot's UIDL when the template needs
    no UID (``%f``): the one Dovecot will give it.
    """
    assert style.template is not None
    records = uidlist.records if uidlist else {}
    by_name_only = not style.template.variables & {"u", "v"}
    old: list[str | None] = []
    keys: list[tuple[int | None, int] | None] = []
    for name in names:
        record = records.get(name)
        if record is None or uidlist is None:
            old.append(style.template.expand({"f": name, "g": name}) if by_name_only else None)
            keys.append(None)
            continue
        keys.append((record.pop3_order, record.uid))
        if record.pop3_uidl is not None:
            old.append(record.pop3_uidl or name)
        else:
            old.append(style.template.expand({"u": str(record.uid), "v": str(uidlist.uid_validity),
                                              "f": name, "g": record.guid or name}))
    order = dovecot_order(keys)
    return order, final_uidls([old[i] for i in order], [native[i] for i in order], style.template.alphabet())


def courier_maildir_uidls(names: Sequence[str], native: Sequence[str],
                          sizelist: dict[str, str] | None) -> list[str]:
    """The UIDLs Courier's pop3d gives a Maildir's messages (in pop3d's order, which is Courier's)."""
    if sizelist is None:  # Courier before its size list: the escaped file name, for old and new mail
        return final_uidls([filename_uidl(name) for name in names], native, None)
    # Courier's own are "UID<n>-<v>": anything without that shape cannot collide.
    return final_uidls([sizelist.get(name) for name in names], native, frozenset("UID-0123456789"))


def maildir_view(maildrop: Maildrop, style: UidlStyle, root: str) -> Maildrop:
    """Dovecot's or Courier's UIDLs and order for a Maildir, from the files they keep in it."""
    if not isinstance(maildrop, MaildirMaildrop):
        return maildrop  # a Maildir that does not exist: nothing to list
    names = maildrop.unique_names()
    native = [info.uid for info in maildrop.messages()]
    if style.server == "courier":
        data = read_maildir_file(root, courier_sizelist.NAME, courier_sizelist.MAX_SIZE)
        sizelist = courier_sizelist.parse(data) if data is not None else None
        uids = courier_maildir_uidls(names, native, sizelist)
        return RemappedMaildrop(maildrop, range(len(native)), uids)
    data = read_maildir_file(root, dovecot_uidlist.NAME, dovecot_uidlist.MAX_SIZE)
    uidlist = dovecot_uidlist.parse(data) if data is not None else None
    order, uids = dovecot_maildir_uidls(style, names, native, uidlist)
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
