"""``uidl_format``: which server's UIDLs to reproduce, and the UIDLs and order it gives.

Values, per maildrop type:

* ``pop3d``: pop3d's own UIDLs (the default);
* ``dovecot`` or ``dovecot:TEMPLATE`` (Dovecot's ``pop3_uidl_format``,
  default ``%08Xu%08Xv``): Maildir UIDs from ``dovecot-uidlist``, a saved
  UIDL (its ``P`` field) first, messages in UID order (its ``O`` field
  first); mbox UIDs from ``X-UID``/``X-IMAPbase``, ``%m``/``%g`` the header MD5;
* ``courier`` (Maildir): ``courierpop3dsizelist``, else the escaped file name;
* ``uw`` (mbox): UW ipop3d's ``%08lx%08lx`` of UIDVALIDITY and UID;
* ``qpopper`` (mbox): the ``X-UIDL`` header (see ``mbox_reuse_x_uidl``).

A message the old server never numbered (mail delivered after the switch)
keeps pop3d's own UIDL, prefixed with a character the old server's UIDLs
never contain when they could otherwise look alike, so the two can never
collide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pop3d.uidl.template import DEFAULT, Template, TemplateError

SERVERS = {"maildir": ("pop3d", "dovecot", "courier"), "mbox": ("pop3d", "dovecot", "uw", "qpopper")}
UW_TEMPLATE = "%08Xv%08Xu"
_MARKERS = "._-+~"
#: What Dovecot can fill in for each maildrop type (it refuses the others).
_DOVECOT_VARIABLES = {"maildir": frozenset("uvfg"), "mbox": frozenset("uvmg")}
UID_MAX = 70


@dataclass(frozen=True)
class UidlStyle:
    server: str = "pop3d"
    template: Template | None = None

    @classmethod
    def parse(cls, kind: str, text: str) -> UidlStyle:
        """``dovecot:%08Xu%08Xv`` and the like; raise ValueError with a readable reason."""
        server, _, source = text.partition(":")
        if server not in SERVERS[kind]:
            raise ValueError(f"must be one of {', '.join(SERVERS[kind])} for {kind} (got {text!r})")
        if server != "dovecot":
            if source:
                raise ValueError(f"{server} takes no template (got {text!r})")
            return cls(server, Template.parse(UW_TEMPLATE) if server == "uw" else None)
        try:
            template = Template.parse(source or DEFAULT)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        unsupported = template.variables - _DOVECOT_VARIABLES[kind]
        if unsupported:
            names = ", ".join(f"%{v}" for v in sorted(unsupported))
            raise ValueError(f"Dovecot cannot give {names} for a {kind} maildrop")
        return cls(server, template)

    @property
    def native(self) -> bool:
        return self.server == "pop3d"


def _hashed(text: str, attempt: int) -> str:
    return "h-" + hashlib.sha256(f"{text}\0{attempt}".encode()).hexdigest()[:40]


def final_uidls(old: Sequence[str | None], native: Sequence[str],
                alphabet: frozenset[str] | None) -> list[str]:
    """UIDLs for messages whose old UIDL is ``old[i]`` (None: new since the switch).

    New messages get ``native[i]``, marked when it could be one of the old
    server's; duplicates (two old messages with one header MD5) get ``-2``,
    ``-3``... as Dovecot's ``pop3_uidl_duplicates = rename`` does.
    """
    marker = next((c for c in _MARKERS if alphabet is None or c not in alphabet), None)
    taken: set[str] = set()
    result = []
    for previous, mine in zip(old, native, strict=True):
        if previous is not None:
            uidl, n = previous, 1
            while uidl in taken:
                n += 1
                uidl = f"{previous}-{n}"
        else:
            uidl = mine
            if alphabet is not None and set(mine) <= alphabet and marker is not None:
                uidl = marker + mine
            attempt = 0
            while uidl in taken or len(uidl) > UID_MAX:
                attempt += 1
                uidl = _hashed(mine, attempt)
        taken.add(uidl)
        result.append(uidl)
    return result


def dovecot_order(keys: Iterable[tuple[int | None, int] | None]) -> list[int]:
    """Listing order: messages Dovecot knows by POP3 order, then UID; new ones after, as listed."""
    keyed = list(enumerate(keys))
    known = sorted((k for k in keyed if k[1] is not None),
                   key=lambda item: (item[1][0] is None, item[1][0] or 0, item[1][1]))  # type: ignore[index]
    return [i for i, _ in known] + [i for i, key in keyed if key is None]
