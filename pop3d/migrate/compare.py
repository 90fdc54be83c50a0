"""What a client that leaves mail on the server would see change when the server is switched.

Clients remember the UIDLs they have downloaded; a message whose UIDL they do
not know is downloaded again, and one they knew that is gone from the list
they forget (or, told to delete it, cannot).  Some clients also compare by
message number, so a message that keeps its UIDL but moves in the list
counts as a change too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UserComparison:
    """One user's listings on the old server and on the new one, compared."""

    user: str
    old: int = 0
    new: int = 0
    #: Same UIDL at the same message number.
    same: int = 0
    #: UIDLs the new server lists that the old one did not: downloaded again.
    redownload: int = 0
    #: UIDLs the old server listed that the new one does not.
    gone: int = 0
    #: UIDLs in both lists, at another message number.
    moved: int = 0
    #: Extra copies of a UIDL in the new list (a client keeps only one).
    duplicates: int = 0
    #: Why the user could not be compared (a login refused, a server down).
    error: str | None = None
    #: A few UIDLs of the new list the old one did not have, to show the admin.
    examples: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.error is not None or self.same != self.old or self.old != self.new


def compare(user: str, old: Sequence[str], new: Sequence[str], examples: int = 3) -> UserComparison:
    """Compare two listings (UIDLs in message-number order)."""
    known = set(old)
    fresh = [uidl for uidl in dict.fromkeys(new) if uidl not in known]
    present = set(new)
    both = known & present
    position = {uidl: i for i, uidl in reversed(list(enumerate(old)))}
    same = sum(1 for i, uidl in enumerate(new) if i < len(old) and old[i] == uidl)
    moved = sum(1 for i, uidl in enumerate(new) if uidl in both and position[uidl] != i)
    copies = sum(n - 1 for n in Counter(new).values())
    return UserComparison(user, len(old), len(new), same, len(fresh), len(known - present), moved,
                          copies, examples=tuple(fresh[:examples]))


_COLUMNS = ("user", "old", "new", "same", "re-download", "gone", "moved", "result")


def _row(c: UserComparison) -> tuple[str, ...]:
    if c.error is not None:
        return (c.user, "-", "-", "-", "-", "-", "-", f"ERROR: {c.error}")
    result = "ok" if not c.changed else "CHANGED"
    if c.duplicates:
        result += f" ({c.duplicates} duplicate UIDLs)"
    if c.examples:
        result += " e.g. " + " ".join(c.examples)
    return (c.user, str(c.old), str(c.new), str(c.same), str(c.redownload), str(c.gone), str(c.moved),
            result)


def render_table(comparisons: Iterable[UserComparison]) -> str:
    """A fixed-width table, one line per user, and a summary line."""
    rows = [_COLUMNS, *(_row(c) for c in comparisons)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        numbers = [cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *numbers]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def summary(comparisons: Sequence[UserComparison]) -> str:
    changed = [c for c in comparisons if c.changed]
    failed = sum(1 for c in changed if c.error is not None)
    again = sum(c.redownload for c in comparisons)
    if not changed:
        return f"{len(comparisons)} users checked: no client would see a change\n"
    return (f"{len(comparisons)} users checked: {len(changed)} would see a change "
            f"({again} messages downloaded again; {failed} users could not be checked)\n")
