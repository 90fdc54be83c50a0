"""The hash an unknown user is checked against, so that the answer's timing tells nothing.

An unknown name must cost what a known one costs.  Checking it against a
fixed dummy hash is not enough: if the users' hashes are of another scheme
or cost, the time of the answer shows whether the name exists (and which
scheme the site uses).  So each source checks unknown names against one of
its own users' hashes, of the scheme and cost most of them share; the
result of that check is thrown away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable


def representative(hashes: Iterable[str], cost_class: Callable[[str], Hashable | None]) -> str | None:
    """One of ``hashes`` whose scheme and cost (``cost_class``) most of them share; None if none."""
    classes = {h: cost_class(h) for h in hashes}
    counts = Counter(c for c in classes.values() if c is not None)
    if not counts:
        return None
    common = counts.most_common(1)[0][0]
    return next(h for h, c in classes.items() if c == common)
