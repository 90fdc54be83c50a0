"""Open a maildrop and show it with the UIDLs and order of the server it is taken over from."""

from __future__ import annotations

from collections.abc import Mapping

from pop3d.maildrop import DEFAULT_OPTIONS, Location, Maildrop, MaildropOptions, open_maildrop
from pop3d.uidl.mbox_headers import HEAD_LIMIT, HeaderFacts, parse_head
from pop3d.uidl.remap import RemappedMaildrop
from pop3d.uidl.styles import UidlStyle, final_uidls

_CHUNK = 16 << 10


def read_head(maildrop: Maildrop, index: int) -> bytes:
    """The first bytes of message ``index``, up to the end of its header block (bounded)."""
    reader = maildrop.open_message(index)
    try:
        head = b""
        while len(head) < HEAD_LIMIT and b"\n\n" not in head and b"\n\r\n" not in head:
            chunk = reader.read(_CHUNK)
            if not chunk:
                break
            head += chunk
        return head
    finally:
        reader.close()


def mbox_view(maildrop: Maildrop, style: UidlStyle) -> Maildrop:
    """Dovecot's or UW's UIDLs for an mbox, from the headers those servers wrote."""
    assert style.template is not None
    listed = maildrop.messages()
    facts = [parse_head(read_head(maildrop, i)) for i in range(len(listed))]
    order = list(range(len(listed)))
    if facts and facts[0].pseudo:
        order = order[1:]  # folder data, never shown to POP3 clients
    validity, uid_last = (facts[0].base or (None, 0)) if facts else (None, 0)
    uids = trusted_uids([facts[i].uid for i in order], uid_last)
    old = [_mbox_uidl(style, facts[i], uid, validity) for i, uid in zip(order, uids, strict=True)]
    final = final_uidls(old, [listed[i].uid for i in order], style.template.alphabet())
    return RemappedMaildrop(maildrop, order, final)


def trusted_uids(uids: list[int | None], uid_last: int) -> list[int | None]:
    """The X-UIDs the old server gave: rising, and at most the UIDLAST of X-IMAPbase/X-IMAP.

    Anyone can send a message with an ``X-UID:`` header; one that breaks the
    order, or claims a UID the server never gave, is new mail (UW imapd and
    Dovecot renumber such messages too).
    """
    trusted: list[int | None] = []
    previous = 0
    for uid in uids:
        if uid is not None and previous < uid <= uid_last:
            trusted.append(uid)
            previous = uid
        else:
            trusted.append(None)
    return trusted


def _mbox_uidl(style: UidlStyle, facts: HeaderFacts, uid: int | None, validity: int | None) -> str | None:
    assert style.template is not None
    if style.template.variables & {"u", "v"} and (validity is None or uid is None):
        return None
    values = {"u": str(uid or 0), "v": str(validity or 0), "m": facts.md5, "g": facts.md5}
    return style.template.expand(values)


def open_with_styles(location: Location, options: MaildropOptions = DEFAULT_OPTIONS,
                     styles: Mapping[str, UidlStyle] | None = None) -> Maildrop:
    """``open_maildrop``, then the UIDLs ``styles[location.kind]`` asks for (blocking: in a thread)."""
    maildrop = open_maildrop(location, options)
    style = (styles or {}).get(location.kind)
    if style is None or style.native or style.server == "qpopper":
        return maildrop
    try:
        if location.kind == "mbox":
            return mbox_view(maildrop, style)
        from pop3d.uidl.maildir_view import maildir_view

        return maildir_view(maildrop, style, location.path)
    except BaseException:
        maildrop.close()
        raise

