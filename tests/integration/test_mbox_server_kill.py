"""SIGKILL the real server at random instants of UPDATE while an MTA delivers.

Each round: a pop3d serves a few-MB mbox, the client marks a random set of
messages deleted and sends QUIT, a deliverer appends mail under the mbox
locks meanwhile, and the server process is killed after a random delay.
Afterwards (recovery runs at the next open) every message must be intact:
the deleted set entirely gone or entirely there, every other original and
every delivered message present exactly once and byte-identical, nothing
spliced or duplicated.
"""

from __future__ import annotations

import os
import random
import signal
import time

from maildrop import mbox_kit
from support import Client, ServerFixture, free_port, write_config

from pop3d.maildrop.mbox import MboxMaildrop

ROUNDS = 10
#: On a loaded machine a commit may finish before the kill lands: go on until two did.
MAX_ROUNDS = 30
MESSAGES = 120


def original(i: int) -> bytes:
    line = f"original {i} line of text that pads the message out\n".encode()
    return f"Message-ID: <orig-{i}@kill>\nSubject: original {i}\n\n".encode() + line * 600


def test_kill_server_during_update_loses_nothing(tmp_path):
    rng = random.Random(1939)
    path = str(tmp_path / "victim")
    journal = str(tmp_path / ".victim.pop3d-journal")
    port = free_port()
    config = write_config(str(tmp_path), {"v": {"password": "pw", "maildrop": f"mbox:{path}"}}, port)
    originals = [original(i) for i in range(MESSAGES)]
    mid_commit = 0
    outcomes = {"before": 0, "after": 0}
    round_no = -1
    while (round_no := round_no + 1) < ROUNDS or (mid_commit < 2 and round_no < MAX_ROUNDS):
        with open(path, "wb") as f:
            f.write(mbox_kit.build(originals))
        server = ServerFixture(str(tmp_path), port, config).start()
        deliverer = None
        try:
            c = Client.connect(port)
            c.line()
            c.cmd("USER v")
            assert c.cmd("PASS pw").startswith(b"+OK")
            deleted = sorted(rng.sample(range(MESSAGES), rng.randint(1, 12)))
            for i in deleted:
                assert c.cmd(f"DELE {i + 1}").startswith(b"+OK")
            deliverer = mbox_kit.spawn("deliver", path, "15", f"r{round_no}")
            c.send(b"QUIT\r\n")
            if round_no % 2:
                time.sleep(rng.uniform(0.0, 0.3))  # anywhere around UPDATE
            else:
                # Aim inside it: once the recovery journal appears, kill soon after.
                deadline = time.monotonic() + 2
                while not os.path.exists(journal) and time.monotonic() < deadline:
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0.0, 0.03))
            assert server.proc is not None
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)
            if os.path.exists(journal):
                mid_commit += 1
            c.close()
        finally:
            server.stop()
        assert deliverer is not None and deliverer.stdout is not None
        delivered = deliverer.stdout.read().split()
        assert deliverer.wait(60) == 0
        assert len(delivered) == 15

        md = MboxMaildrop.open(path)  # runs crash recovery
        try:
            served = mbox_kit.read_all(md)
        finally:
            md.close()
        expected_delivered = [mbox_kit.served(mbox_kit.delivered_content(d)) for d in delivered]
        served_originals = [m for m in served if m.startswith(b"Message-ID: <orig-")]
        served_delivered = [m for m in served if m not in served_originals]
        # Nothing spliced, nothing duplicated, deliveries intact and once each.
        assert sorted(served_delivered) == sorted(expected_delivered)
        kept = [mbox_kit.served(originals[i]) for i in range(MESSAGES) if i not in deleted]
        everything = [mbox_kit.served(o) for o in originals]
        if served_originals == everything:
            outcomes["before"] += 1
        else:
            assert served_originals == kept, f"round {round_no}: neither before nor after the commit"
            outcomes["after"] += 1
    # The kills really landed inside UPDATE, not only before or after it.
    print(f"mid-commit kills: {mid_commit}, outcomes: {outcomes}")
    assert mid_commit >= 2, f"too few kills caught a commit in progress ({mid_commit}, {outcomes})"
