"""Maildrop locations: ``maildir:PATH`` or ``mbox:PATH`` templates.

Templates expand ``%u`` (user name), ``%h`` (home directory) and a leading
``~`` (home directory), as in ``maildir:~/Maildir`` or ``mbox:/var/mail/%u``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

KINDS = ("maildir", "mbox")


@dataclass(frozen=True)
class Location:
    kind: str
    path: str


def parse_template(template: str) -> tuple[str, str]:
    """Split and check a template; raise ValueError with a readable reason."""
    kind, sep, path = template.partition(":")
    if not sep or kind not in KINDS:
        raise ValueError(f"must start with one of {', '.join(k + ':' for k in KINDS)} (got {template!r})")
    if not path:
        raise ValueError(f"has no path after {kind}:")
    return kind, path


def expand(template: str, user: str, home: str | None = None) -> Location:
    """Expand a template for one user."""
    kind, path = parse_template(template)
    if "/" in user or user in (".", ".."):
        raise ValueError(f"user name {user!r} cannot name a maildrop")
    if (path.startswith("~") or "%h" in path) and not home:
        raise ValueError(f"{user} has no home directory for {template!r}")
    if path.startswith("~"):
        path = str(home) + path[1:]
    path = path.replace("%h", home or "").replace("%u", user)
    return Location(kind, os.path.normpath(path))
