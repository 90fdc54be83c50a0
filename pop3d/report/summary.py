"""The report as plain data: what ``--json`` prints and the text layout renders."""

from __future__ import annotations

from typing import Any

from pop3d.report.tally import Tally, polling_clients


def summarize(tally: Tally, files: list[str], top: int | None) -> dict[str, Any]:
    """The report's numbers; every table is cut to ``top`` rows (None: all rows)."""
    retrieved = tally.retrieved_by_user()
    known = tally.debug_seen
    users = []
    for name, u in tally.users.items():
        users.append({
            "user": name, "sessions": u.sessions, "early_polls": u.early_polls,
            "failed_logins": u.failed_logins, "refused_logins": u.refused_logins,
            "retrieved_messages": (0 if name in tally.monitor_users else retrieved.get(name, 0))
            if known else None,
            "deleted_messages": u.deleted_messages, "deleted_bytes": u.deleted_bytes,
            "left_messages": u.left_messages if u.sessions else None,
            "left_bytes": u.left_bytes if u.sessions else None,
        })
    users.sort(key=lambda r: (-r["sessions"], -r["failed_logins"], r["user"]))
    addresses = [{
        "address": address, "host": a.host or None, "sessions": a.sessions, "users": len(a.users),
        "failed_logins": a.failed_logins, "refused_logins": a.refused_logins,
        "deleted_messages": a.deleted_messages, "deleted_bytes": a.deleted_bytes,
    } for address, a in tally.addresses.items()]
    addresses.sort(key=lambda r: (-r["sessions"], -r["failed_logins"], r["address"]))
    clients = [{"user": c.user, "address": c.address, "sessions": c.sessions,
                "median_interval_seconds": c.median_interval} for c in polling_clients(tally)]
    monitors = [{"user": user, "address": address, "sessions": n}
                for (user, address), n in sorted(tally.monitors.items(), key=lambda kv: (-kv[1], kv[0]))]
    totals = {
        "sessions": sum(u["sessions"] for u in users),
        "logins": tally.logins,
        "early_polls": sum(u["early_polls"] for u in users),
        "failed_logins": sum(u["failed_logins"] for u in users),
        "refused_logins": sum(u["refused_logins"] for u in users),
        "retrieved_messages": (sum(n for user, n in retrieved.items() if user not in tally.monitor_users)
                               if known else None),
        "deleted_messages": sum(u["deleted_messages"] for u in users),
        "deleted_bytes": sum(u["deleted_bytes"] for u in users),
        "users": sum(1 for u in users if u["sessions"]),
        "addresses": sum(1 for a in addresses if a["sessions"]),
        "monitor_sessions": sum(tally.monitors.values()),
    }
    lines = tally.lines
    return {
        "ident": tally.ident,
        "files": files,
        "first": tally.first.isoformat(sep=" ", timespec="seconds") if tally.first else None,
        "last": tally.last.isoformat(sep=" ", timespec="seconds") if tally.last else None,
        "lines": {"read": lines.read, "pop3d": lines.pop3d, "other_programs": lines.other_programs,
                  "malformed": lines.malformed, "unused": lines.unused},
        "totals": totals,
        "refusal_codes": dict(sorted(tally.refusal_codes.items())),
        "users": _cut(users, top),
        "addresses": _cut(addresses, top),
        "polling_clients": _cut(clients, top),
        "monitors": _cut(monitors, top),
        "sessions_per_hour": {f"{h:02d}": tally.sessions_per_hour[h] for h in range(24)},
        "failed_logins_per_hour": {f"{h:02d}": tally.failed_per_hour[h] for h in range(24)},
        "sessions_per_day": dict(sorted(tally.sessions_per_day.items())),
    }


def _cut(rows: list[dict[str, Any]], top: int | None) -> list[dict[str, Any]]:
    return rows if top is None else rows[:top]
