"""Locking: the session lock, and the dotlock + fcntl pair shared with the MTA."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mbox_kit import build, expect, read_all, spawn

from pop3d.maildrop import CommitError, MaildropBusy
from pop3d.maildrop.mbox import MboxMaildrop


@pytest.fixture
def mbox(tmp_path):
    path = tmp_path / "mbox"
    path.write_bytes(build([b"S: %d\n\nbody\n" % i for i in range(5)]))
    return str(path)


@pytest.fixture
def helpers():
    procs = []

    def start(*args):
        proc = spawn(*args)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def release(proc):
    proc.stdin.close()
    proc.wait(timeout=10)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dotlock_of_live_process_makes_open_wait_then_give_up(mbox, helpers):
    holder = helpers("hold", mbox, "dotlock")
    expect(holder, "locked")
    t0 = time.monotonic()
    with pytest.raises(MaildropBusy):
        MboxMaildrop.open(mbox, lock_timeout=0.6)
    assert time.monotonic() - t0 >= 0.6
    assert Path(mbox + ".lock").read_text() == f"{holder.pid}\n"  # theirs, untouched
    release(holder)
    # Nothing was left held by the failed open: it opens now.
    with MboxMaildrop.open(mbox) as md:
        assert len(md.messages()) == 5


def test_open_waits_for_dotlock_released_in_time(mbox, helpers):
    holder = helpers("hold", mbox, "both")
    expect(holder, "locked")
    threading.Timer(0.4, release, [holder]).start()
    t0 = time.monotonic()
    with MboxMaildrop.open(mbox, lock_timeout=10) as md:
        assert len(md.messages()) == 5
    assert 0.3 < time.monotonic() - t0 < 5


def test_dotlock_of_dead_process_is_removed(mbox):
    with open(mbox + ".lock", "w") as f:
        f.write(f"{dead_pid()}\n")
    with MboxMaildrop.open(mbox, lock_timeout=0.5) as md:
        assert len(md.messages()) == 5
    assert not os.path.exists(mbox + ".lock")


def test_old_dotlock_without_pid_is_removed_young_one_is_respected(mbox):
    with open(mbox + ".lock", "w"):
        pass
    with pytest.raises(MaildropBusy):
        MboxMaildrop.open(mbox, lock_timeout=0.3, stale_after=300)
    old = time.time() - 301
    os.utime(mbox + ".lock", (old, old))
    MboxMaildrop.open(mbox, lock_timeout=0.3, stale_after=300).close()
    assert not os.path.exists(mbox + ".lock")


def test_mailbox_locks_are_free_during_the_session(mbox, helpers):
    with MboxMaildrop.open(mbox) as md:
        assert not os.path.exists(mbox + ".lock")
        holder = helpers("hold", mbox, "both")
        expect(holder, "locked")  # would hang if we still held the fcntl lock
        release(holder)
        assert len(md.messages()) == 5


def test_fcntl_lock_of_other_process_blocks_commit_until_released(mbox, helpers):
    md = MboxMaildrop.open(mbox)
    holder = helpers("hold", mbox, "fcntl")
    expect(holder, "locked")
    done = threading.Event()
    errors = []

    def commit():
        try:
            md.commit(frozenset({0}), frozenset())
        except CommitError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=commit).start()
    assert not done.wait(0.5)
    assert len(build([b"S: %d\n\nbody\n" % i for i in range(5)])) == os.path.getsize(mbox)
    release(holder)
    assert done.wait(10) and not errors
    md.close()
    with MboxMaildrop.open(mbox) as md:
        assert len(md.messages()) == 4


def test_commit_gives_up_when_fcntl_stays_busy_and_changes_nothing(mbox, helpers):
    before = Path(mbox).read_bytes()
    md = MboxMaildrop.open(mbox, lock_timeout=0.5)
    holder = helpers("hold", mbox, "fcntl")
    expect(holder, "locked")
    with pytest.raises(CommitError):
        md.commit(frozenset({1}), frozenset())
    md.close()
    assert Path(mbox).read_bytes() == before
    assert not os.path.exists(mbox + ".lock")


def test_second_session_is_busy_until_first_closes(mbox):
    first = MboxMaildrop.open(mbox)
    with pytest.raises(MaildropBusy):
        MboxMaildrop.open(mbox)
    first.close()
    first.close()  # idempotent
    MboxMaildrop.open(mbox).close()


def test_session_lock_released_when_holder_is_killed(mbox, helpers):
    holder = helpers("session", mbox)
    expect(holder, "open")
    with pytest.raises(MaildropBusy):
        MboxMaildrop.open(mbox)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=5)
    deadline = time.monotonic() + 3
    while True:
        try:
            md = MboxMaildrop.open(mbox)
            break
        except MaildropBusy:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with md:
        assert len(read_all(md)) == 5


def test_failed_open_releases_session_lock(mbox, helpers):
    holder = helpers("hold", mbox, "dotlock")
    expect(holder, "locked")
    with pytest.raises(MaildropBusy):
        MboxMaildrop.open(mbox, lock_timeout=0.2)
    release(holder)
    MboxMaildrop.open(mbox, lock_timeout=0.2).close()
