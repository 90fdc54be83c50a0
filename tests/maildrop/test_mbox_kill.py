"""THE KILL TEST: SIGKILL a committing process at random instants while mail arrives.

Each round: a fresh mbox of a few MB, a helper process that opens it and
commits a random set of deletions, and an MTA-like process appending mail
with dotlock + fcntl at the same time.  We SIGKILL the committer at a random
moment spread over the measured duration of a commit, let the MTA finish
(it breaks the dead committer's dotlock, as a real MTA eventually does),
then open the mbox (recovery runs) and check that it is exactly "before" or
"after" for the deleted set, with every delivered message present once.
"""

from __future__ import annotations

import os
import random
import signal
import time

from mbox_kit import build, delivered_content, expect, read_all, spawn

from pop3d.maildrop.mbox import MboxMaildrop, Sidecars

MESSAGES = 500
ROUNDS = 45
BUDGET_S = 45.0


def original(i: int) -> bytes:
    return (b"Message-ID: <orig-%d@kill>\nSubject: %d\n\n" % (i, i)) + (b"From %d body line .\n" % i) * 300


def deletion_set(rng: random.Random) -> list[int]:
    """About 30% of the messages, starting early so that most of the file moves."""
    first = rng.randrange(10)
    return sorted({first} | {i for i in range(first, MESSAGES) if rng.random() < 0.3})


def run_commit(path: str, deleted: list[int]):
    proc = spawn("commit", path, ",".join(map(str, deleted)), "slow")
    expect(proc, "ready")
    return proc


def test_sigkill_during_commit_never_loses_duplicates_or_splices(tmp_path):
    rng = random.Random(20240601)
    originals = [original(i) for i in range(MESSAGES)]
    data = build(originals)
    assert len(data) > 3_000_000

    # Measure how long a commit like the ones below takes here (before and during
    # the in-place writes), to spread the kills over it.
    pre, during = [], []
    for k in range(3):
        calib = str(tmp_path / f"calib{k}")
        with open(calib, "wb") as f:
            f.write(data)
        proc = run_commit(calib, deletion_set(rng))
        t0 = time.monotonic()
        expect(proc, "applying")
        t1 = time.monotonic()
        expect(proc, "done")
        pre.append(t1 - t0)
        during.append(time.monotonic() - t1)
        proc.wait()
    pre_s, during_s = sorted(pre)[1], sorted(during)[1]

    started = time.monotonic()
    rounds = mid_commit = torn = completed = kept_all = 0
    while rounds < ROUNDS and time.monotonic() - started < BUDGET_S:
        rounds += 1
        path = str(tmp_path / f"round{rounds}")
        with open(path, "wb") as f:
            f.write(data)
        deleted = deletion_set(rng)
        mta = spawn("deliver", path, "4", f"r{rounds}")
        committer = run_commit(path, deleted)
        if rounds % 3 == 0:  # while the journal is written
            time.sleep(rng.uniform(0, pre_s))
        elif rounds % 3 == 1:  # anywhere in the commit
            time.sleep(rng.uniform(0, (pre_s + during_s) * 1.1))
        else:  # aimed at the in-place writes
            expect(committer, "applying")
            time.sleep(rng.uniform(0, during_s))
        os.kill(committer.pid, signal.SIGKILL)
        committer.wait()
        if os.path.exists(Sidecars.for_mbox(path).journal):
            mid_commit += 1
            with open(path, "rb") as f:
                torn += f.read(len(data)) != data  # neither before nor after until recovery
        delivered = mta.communicate(timeout=60)[0].split()
        assert mta.returncode == 0 and len(delivered) == 4

        with MboxMaildrop.open(path) as md:
            got = read_all(md, chunk=65536)
        assert not os.path.exists(Sidecars.for_mbox(path).journal)
        label = {m: ("orig", i) for i, m in enumerate(originals)}
        label.update({delivered_content(d): ("mta", d) for d in delivered})
        labels = [label.get(m, ("UNKNOWN", m[:80])) for m in got]
        assert all(kind != "UNKNOWN" for kind, _ in labels), "a spliced or damaged message"
        assert len(set(labels)) == len(labels), "a duplicated message"
        assert {d for kind, d in labels if kind == "mta"} == set(delivered)
        present = [i for kind, i in labels if kind == "orig"]
        before, after = list(range(MESSAGES)), [i for i in range(MESSAGES) if i not in set(deleted)]
        assert present in (before, after)
        completed += present == after
        kept_all += present == before
        os.unlink(path)

    assert rounds >= 20
    report = (f"{rounds} rounds: {mid_commit} killed mid-commit, {torn} of them with the mbox torn, "
              f"{completed} ended 'after', {kept_all} 'before'; commit {pre_s:.3f}s + writes {during_s:.3f}s")
    print(report)
    assert mid_commit > 0 and torn > 0, report
