"""Helpers for the Maildir backend tests: build Maildirs and look inside them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pop3d.maildrop.maildir import MaildirMaildrop

REPO = Path(__file__).resolve().parents[2]


def make_maildir(root: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver(root: Path, unique: str, body: bytes = b"Subject: x\n\nhello\n", *,
            subdir: str = "new", flags: str | None = None) -> Path:
    """Write a message file as a deliverer (new/) or an IMAP server (cur/) would."""
    name = unique if flags is None else f"{unique}:2,{flags}"
    path = root / subdir / name
    path.write_bytes(body)
    return path


def files(root: Path, sub: str) -> list[str]:
    """Non-dot file names in ``root/sub``, sorted."""
    directory = root / sub
    if not directory.is_dir():
        return []
    return sorted(n for n in os.listdir(directory) if not n.startswith("."))


def opened(root: Path) -> MaildirMaildrop:
    maildrop = MaildirMaildrop.open(str(root))
    assert isinstance(maildrop, MaildirMaildrop)
    return maildrop


def uids(root: Path) -> list[str]:
    with opened(root) as maildrop:
        return [m.uid for m in maildrop.messages()]


def run_python(code: str, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a Python child running ``code`` with ``args`` in sys.argv[1:], the repository importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
