"""Helpers for the mbox tests: building mboxes, and helper processes.

Run as a script, it plays the other programs around an mbox (a process is
needed because fcntl locks belong to a process):

    mbox_kit.py hold PATH dotlock|fcntl|both   take the lock(s), print "locked", wait for stdin EOF
    mbox_kit.py session PATH                   open the maildrop, print "open", sleep
    mbox_kit.py deliver PATH COUNT TAG         append COUNT messages like an MTA, print each id
    mbox_kit.py commit PATH 1,5,9 [slow]       open, print "ready", commit deletions, print "done";
                                               with slow, print "applying" when the in-place
                                               writes start and make them take ~1 ms per 64 KiB
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from pop3d.maildrop import mbox_journal  # noqa: E402
from pop3d.maildrop.mbox import MboxMaildrop  # noqa: E402
from pop3d.maildrop.mbox_lock import MailboxLock  # noqa: E402


def quote(content: bytes, fmt: str = "mboxrd") -> bytes:
    """Quote ``From `` lines the way an ``fmt`` writer does."""
    if fmt == "mboxrd":
        return re.sub(rb"(?m)^(>*From )", rb">\1", content)
    return re.sub(rb"(?m)^From ", b">From ", content)


def served(content: bytes) -> bytes:
    """What the backend serves for ``content`` written by :func:`entry`."""
    return content if not content or content.endswith(b"\n") else content + b"\n"


def entry(content: bytes, n: int = 0, fmt: str = "mboxrd", eol: bytes = b"\n") -> bytes:
    """One message as an MTA appends it: From line, quoted content, empty line."""
    body = quote(served(content), fmt)
    return b"From sender%d@example.org Mon Jan  1 00:00:00 2024" % n + eol + body + eol


def build(contents: list[bytes], fmt: str = "mboxrd") -> bytes:
    return b"".join(entry(c, i, fmt) for i, c in enumerate(contents))


def read_all(md: MboxMaildrop, chunk: int = 4096) -> list[bytes]:
    """Every message's served bytes, read in ``chunk``-sized pieces."""
    out = []
    for i in range(len(md.messages())):
        reader = md.open_message(i)
        parts = []
        while part := reader.read(chunk):
            parts.append(part)
        reader.close()
        out.append(b"".join(parts))
    return out


def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def expect(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == word, f"helper said {line!r}, wanted {word!r}"


def _hold(path: str, kind: str) -> None:
    fd = os.open(path, os.O_RDWR)
    if kind in ("dotlock", "both"):
        with open(path + ".lock", "x") as f:
            f.write(f"{os.getpid()}\n")
    if kind in ("fcntl", "both"):
        fcntl.lockf(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
    if kind in ("dotlock", "both"):
        os.unlink(path + ".lock")


def _deliver(path: str, count: int, tag: str) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    for k in range(count):
        lock = MailboxLock(path, fd, timeout=30)
        lock.acquire()
        try:
            msg_id = f"{tag}-{k}"
            data = entry(delivered_content(msg_id), k)
            os.pwrite(fd, data, os.fstat(fd).st_size)
            os.fsync(fd)
        finally:
            lock.release()
        print(msg_id, flush=True)
        time.sleep(random.uniform(0, 0.01))


def delivered_content(msg_id: str) -> bytes:
    head = f"Message-ID: <{msg_id}@kit>\nSubject: delivered\n\nFrom the MTA\n>From quoted\n"
    return (head + f"{msg_id}\n" * 3).encode()


def _slow_apply() -> None:
    """Widen the window of in-place writes so that a kill can be aimed at it."""
    real_apply, real_chunks = mbox_journal.apply, mbox_journal.payload_chunks

    def chunks(journal):
        for chunk in real_chunks(journal):
            for i in range(0, len(chunk), 65536):
                time.sleep(0.001)
                yield chunk[i:i + 65536]

    def apply(journal, fd):
        print("applying", flush=True)
        real_apply(journal, fd)

    mbox_journal.payload_chunks = chunks
    mbox_journal.apply = apply


def main(argv: list[str]) -> None:
    cmd, path = argv[0], argv[1]
    if cmd == "hold":
        _hold(path, argv[2])
    elif cmd == "session":
        md = MboxMaildrop.open(path)
        print("open", flush=True)
        time.sleep(3600)
        md.close()
    elif cmd == "deliver":
        _deliver(path, int(argv[2]), argv[3])
    elif cmd == "commit":
        if argv[3:] == ["slow"]:
            _slow_apply()
        md = MboxMaildrop.open(path, lock_timeout=30)
        deleted = frozenset(int(x) for x in argv[2].split(",") if x)
        print("ready", flush=True)
        md.commit(deleted, frozenset())
        md.close()
        print("done", flush=True)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
