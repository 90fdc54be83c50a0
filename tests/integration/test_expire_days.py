"""EXPIRE n over real sockets: retrieved mail leaves n days after its first retrieval.

Time passing is simulated by moving the recorded retrieval times back in the
shared database, exactly as if the days had gone by.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from maildrop_builders import make_maildir, make_mbox
from support import Client, free_port, write_config

DAYS = 3


def login(port: int) -> tuple[Client, bytes]:
    c = Client.connect(port)
    c.line()
    assert c.cmd("USER alice").startswith(b"+OK")
    return c, c.cmd("PASS alice-pw")


def retr(c: Client, n: int) -> None:
    assert c.cmd(f"RETR {n}").startswith(b"+OK")
    c.multiline()


def age_records(state_dir: str, days: float) -> None:
    """Make every recorded first retrieval ``days`` older."""
    with sqlite3.connect(os.path.join(state_dir, "retrieved.sqlite3")) as db:
        db.execute("UPDATE retrieved SET at = at - ?", (days * 86400,))


def uids(c: Client) -> list[bytes]:
    assert c.cmd("UIDL").startswith(b"+OK")
    return [line.split()[1] for line in c.multiline()]


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_retrieved_mail_is_deleted_days_after_first_retrieval(make_server, tmp_path, kind):
    path = str(tmp_path / "alice")
    make_maildir(path, 4) if kind == "maildir" else make_mbox(path, 4)
    state = str(tmp_path / "state")
    server = make_server({"alice": {"password": "alice-pw", "maildrop": f"{kind}:{path}"}},
                         {"expire": DAYS, "state_dir": state})

    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 4 messages")
    assert c.cmd("CAPA").startswith(b"+OK") and b"EXPIRE 3" in c.multiline()
    all_uids = uids(c)
    retr(c, 1)
    retr(c, 2)
    assert c.cmd("TOP 3 0").startswith(b"+OK")  # TOP is not a retrieval
    c.multiline()
    assert c.cmd("QUIT").startswith(b"+OK")

    # Not yet three days: everything stays.
    age_records(state, DAYS - 0.5)
    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 4 messages")
    retr(c, 4)  # first retrieved now: its own clock starts
    assert c.cmd("QUIT").startswith(b"+OK")

    # Three days after their first retrieval, 1 and 2 are still listed and
    # readable in the session, and the UPDATE after QUIT deletes them.
    age_records(state, 0.5)
    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 4 messages")
    retr(c, 1)
    assert c.cmd("QUIT").startswith(b"+OK")
    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 2 messages")
    assert uids(c) == [all_uids[2], all_uids[3]]  # never-retrieved 3 and recent 4 stay
    c.cmd("QUIT")


def test_a_dropped_session_deletes_nothing_expired(make_server, tmp_path):
    make_maildir(str(tmp_path / "alice"), 2)
    state = str(tmp_path / "state")
    server = make_server({"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}},
                         {"expire": 1, "state_dir": state})
    c, _ = login(server.port)
    retr(c, 1)
    assert c.cmd("QUIT").startswith(b"+OK")
    age_records(state, 2)
    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 2 messages")
    c.close()  # no QUIT: no UPDATE
    deadline = time.monotonic() + 10
    while True:  # the server notices the hang-up and releases the lock within moments
        c, reply = login(server.port)
        if not reply.startswith(b"-ERR [IN-USE]") or time.monotonic() > deadline:
            break
        c.close()
        time.sleep(0.1)
    assert reply.startswith(b"+OK alice has 2 messages")
    assert c.cmd("QUIT").startswith(b"+OK")
    c, reply = login(server.port)
    assert reply.startswith(b"+OK alice has 1 messages")


def test_an_unusable_state_dir_is_a_config_error(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    config = write_config(str(tmp_path), {}, free_port(), {"expire": 5, "state_dir": str(blocker / "x")})
    proc = subprocess.run([sys.executable, "-m", "pop3d", "-c", config], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert proc.stderr.startswith(f"pop3d: {config}: state_dir: cannot open {blocker}/x/retrieved.sqlite3")
