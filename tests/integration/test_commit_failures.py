"""UPDATE that cannot complete answers -ERR [SYS/TEMP] and keeps every message.

These tests make the file system refuse the commit for real: an immutable
directory (chattr +i, which even root cannot write) and a full disk (a tiny
tmpfs).  Both need root; they are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
from maildrop_builders import file_tree, make_maildir, make_mbox
from support import Client

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chattr, mount)")


@contextlib.contextmanager
def immutable(path: str):
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not supported here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


@contextlib.contextmanager
def tiny_filesystem(path: str, size_kb: int):
    os.makedirs(path, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", path],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=True)


def delete_and_quit(port: int, user: str, numbers: list[int]) -> bytes:
    c = Client.connect(port)
    c.line()
    c.cmd(f"USER {user}")
    assert c.cmd("PASS pw").startswith(b"+OK")
    for n in numbers:
        assert c.cmd(f"DELE {n}").startswith(b"+OK")
    reply = c.cmd("QUIT")
    assert c.closed()
    return reply


def test_maildir_commit_refused_keeps_every_message(make_server, tmp_path):
    path = str(tmp_path / "md")
    make_maildir(path, 5)
    before = file_tree(path)
    server = make_server({"u": {"password": "pw", "maildrop": f"maildir:{path}"}})
    with immutable(os.path.join(path, "tmp")):
        reply = delete_and_quit(server.port, "u", [1, 3, 5])
    assert reply.startswith(b"-ERR [SYS/TEMP]")
    # Every message is still there (new/ messages may not have moved to cur/).
    assert sorted(n.split(":")[0] for n in file_tree(path).values()) == \
        sorted(n.split(":")[0] for n in before.values())
    # And the next session sees them all and can delete.
    assert delete_and_quit(server.port, "u", [1]).startswith(b"+OK")


def test_mbox_commit_on_full_disk_keeps_every_message(make_server, tmp_path):
    with tiny_filesystem(str(tmp_path / "spool"), 512) as spool:
        path = os.path.join(spool, "u")
        make_mbox(path, 40, body_size=6000)  # ~240 KB
        with open(path, "rb") as f:
            before = f.read()
        # Fill the rest of the file system so the recovery journal cannot be written.
        fd = os.open(os.path.join(spool, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
        server = make_server({"u": {"password": "pw", "maildrop": f"mbox:{path}"}})
        reply = delete_and_quit(server.port, "u", [1, 2])
        assert reply.startswith(b"-ERR [SYS/TEMP]")
        with open(path, "rb") as f:
            assert f.read() == before
        os.unlink(os.path.join(spool, "filler"))
        assert delete_and_quit(server.port, "u", [1, 2]).startswith(b"+OK")
        with open(path, "rb") as f:
            after = f.read()
        assert len(after) < len(before) and after in before
