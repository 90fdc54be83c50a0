"""Time open_maildrop on a large Maildir and a large mbox, first and second open.

The first open builds each backend's size cache or index (every message
read once); the second should only stat and read the cache.  The page
cache is warm in both (the files were just written), so "first" measures
our work, not the disk.

    .venv/bin/python bench/open_maildrop.py [--messages 100000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pop3d.maildrop import Location, MaildropError, open_maildrop  # noqa: E402

BACKENDS = {"maildir": "pop3d.maildrop.maildir", "mbox": "pop3d.maildrop.mbox"}
BASE_TIME = 1_700_000_000


def message(i: int) -> bytes:
    """A plausible message of 1-6 KiB with LF line ends; some end without a newline."""
    header = (
        f"Return-Path: <sender{i % 97}@example.org>\n"
        f"From: Sender {i % 97} <sender{i % 97}@example.org>\n"
        "To: user@example.net\n"
        f"Subject: benchmark message {i}\n"
        f"Message-ID: <{i}.bench@example.org>\n\n"
    )
    body = "".join(f"Line {n} of message {i}, some words to fill the line up a bit.\n"
                   for n in range(15 + (i * 7919) % 80))
    data = (header + body).encode()
    return data.rstrip(b"\n") if i % 50 == 0 else data


def make_maildir(root: Path, count: int) -> None:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        unique = f"{BASE_TIME + i}.M{i}P4242.bench"
        name = f"cur/{unique}:2,S" if i % 3 else f"new/{unique}"
        with open(root / name, "wb") as f:
            f.write(message(i))


def make_mbox(path: Path, count: int) -> None:
    with open(path, "wb") as f:
        for i in range(count):
            data = message(i)
            if not data.endswith(b"\n"):
                data += b"\n"  # mbox needs it before the separating blank line
            f.write(b"From sender@example.org Tue Nov 14 22:13:20 2023\n" + data + b"\n")


def timed_open(location: Location) -> tuple[float, int]:
    start = time.perf_counter()
    maildrop = open_maildrop(location)
    elapsed = time.perf_counter() - start
    try:
        return elapsed, len(maildrop.messages())
    finally:
        maildrop.close()


def bench(kind: str, path: Path, build: Callable[[Path, int], None], count: int) -> str | None:
    try:
        importlib.import_module(BACKENDS[kind])
    except ImportError as exc:
        print(f"skipping {kind}: backend does not import ({exc})", file=sys.stderr)
        return None
    start = time.perf_counter()
    build(path, count)
    print(f"{kind}: wrote {count} messages in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    location = Location(kind, str(path))
    try:
        first, listed = timed_open(location)
        second, _ = timed_open(location)
    except MaildropError as exc:
        return f"{kind:<8} {count:>9}  open failed: {exc}"
    return f"{kind:<8} {listed:>9} {first:>12.2f} {second:>12.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dir", help="work in this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pop3d-bench-") as tmp:
        work = Path(args.dir) if args.dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [
            bench("maildir", work / "Maildir", make_maildir, args.messages),
            bench("mbox", work / "mbox", make_mbox, args.messages),
        ]
    print(f"{'kind':<8} {'messages':>9} {'first open':>12} {'second open':>12}   (seconds)")
    for row in rows:
        if row is not None:
            print(row)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
