"""SIGTERM ends the process promptly even while a worker thread is busy."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from maildrop_builders import make_mbox
from support import Client


@pytest.mark.slow
def test_sigterm_while_a_login_waits_out_a_held_mbox_lock(tmp_path, make_server):
    """Twisted's shutdown joined its worker threads: one stuck in a login kept the server alive."""
    path = str(tmp_path / "alice.mbox")
    make_mbox(path, 1)
    with open(path + ".lock", "w") as f:  # an MTA's dotlock, held by a live process (this one)
        f.write(f"{os.getpid()}\n")
    users = {"alice": {"password": "alice-pw", "maildrop": f"mbox:{path}"}}
    server = make_server(users, extra={"shutdown_grace": 1, "limits": {"lock_timeout": 120}})
    client = Client.connect(server.port)
    assert client.line().startswith(b"+OK")
    client.cmd("USER alice")
    answer: list[bytes] = []
    waiting = threading.Thread(target=lambda: answer.append(client.cmd("PASS alice-pw")), daemon=True)
    waiting.start()
    time.sleep(1)  # the login now sleeps in a worker thread, waiting for the lock
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    took = time.monotonic() - started
    print(f"SIGTERM with a busy worker thread: exited after {took:.1f}s")
    assert took < 10, f"the server took {took:.0f}s to stop"
    assert "still busy" in server.log()
