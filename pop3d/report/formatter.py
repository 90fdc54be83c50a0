"""Print a report summary as aligned text tables, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pop3d.logs.escape import escape


def render_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2) + "\n"


def render_text(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    out: list[str] = []
    period = (f"from {summary['first']} to {summary['last']}" if summary["first"]
              else "no lines from " + summary["ident"])
    out.append(f"pop3d-stats: {', '.join(summary['files'])}: {period}")
    codes = ", ".join(f"{code} {n}" for code, n in summary["refusal_codes"].items())
    retrieved = t["retrieved_messages"]
    out += _section("Summary", _table(["", ""], [
        ["sessions", t["sessions"]],
        ["logins", t["logins"]],
        ["failed logins (bad credentials)", t["failed_logins"]],
        ["refused logins" + (f" ({codes})" if codes else ""), t["refused_logins"]],
        ["early polls (LOGIN-DELAY)", t["early_polls"]],
        ["messages downloaded (RETR)",
         retrieved if retrieved is not None else "not logged (needs pop3d -d)"],
        ["messages deleted", t["deleted_messages"]],
        ["bytes deleted", t["deleted_bytes"]],
        ["users", t["users"]],
        ["client addresses", t["addresses"]],
        ["monitor sessions (not counted above)", t["monitor_sessions"]],
    ], header=False))
    out += _section("Per user", _table(
        ["user", "sessions", "polls", "failed", "refused", "retrieved", "deleted", "bytes del",
         "left", "bytes left"],
        [[u["user"], u["sessions"], u["early_polls"], u["failed_logins"], u["refused_logins"],
          _maybe(u["retrieved_messages"]), u["deleted_messages"], u["deleted_bytes"],
          _maybe(u["left_messages"]), _maybe(u["left_bytes"])] for u in summary["users"]]))
    out += _section("Per client address", _table(
        ["address", "host", "sessions", "users", "failed", "refused", "deleted", "bytes del"],
        [[a["address"], a["host"] or "-", a["sessions"], a["users"], a["failed_logins"],
          a["refused_logins"], a["deleted_messages"], a["deleted_bytes"]] for a in summary["addresses"]]))
    out += _section("Clients that poll most often", _table(
        ["user", "address", "sessions", "median interval"],
        [[c["user"], c["address"], c["sessions"], duration(c["median_interval_seconds"])]
         for c in summary["polling_clients"]]))
    if summary["monitors"]:
        out += _section("Monitor sessions", _table(
            ["user", "address", "sessions"],
            [[m["user"], m["address"], m["sessions"]] for m in summary["monitors"]]))
    failed = summary["failed_logins_per_hour"]
    out += _section("Sessions per hour", _table(
        ["hour", "sessions", "failed logins"],
        [[f"{hour}:00", n, failed[hour]] for hour, n in summary["sessions_per_hour"].items()]))
    if summary["sessions_per_day"]:
        out += _section("Sessions per day", _table(
            ["date", "sessions"], [[day, n] for day, n in summary["sessions_per_day"].items()]))
    lines = summary["lines"]
    out += _section("Lines", _table(["", ""], [
        ["read", lines["read"]],
        [f"from {summary['ident']}", lines["pop3d"]],
        ["from other programs", lines["other_programs"]],
        ["malformed", lines["malformed"]],
        [f"{summary['ident']} lines not used", lines["unused"]],
    ], header=False))
    return "\n".join(out) + "\n"


def duration(seconds: float | None) -> str:
    """``42s``, ``5m 03s``, ``2h 10m``, ``3d 04h``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def _maybe(value: int | None) -> int | str:
    return "-" if value is None else value


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title, "-" * len(title), *body]


def _table(headings: Sequence[str], rows: list[list[Any]], header: bool = True) -> list[str]:
    """Text columns left-aligned, numbers right-aligned."""
    if not rows:
        return ["  (none)"]
    # Client-supplied names come unescaped from the parser: escape them again for the terminal.
    cells = [[escape(str(c)) for c in row] for row in rows]
    numeric = [all(isinstance(row[i], int) or row[i] == "-" for row in rows) for i in range(len(headings))]
    all_rows = ([list(headings)] if header else []) + cells
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(headings))]
    return ["  " + "  ".join(c.rjust(w) if num else c.ljust(w)
                             for c, w, num in zip(row, widths, numeric, strict=True)).rstrip()
            for row in all_rows]
