"""Courier's own POP3 server (Debian's courier-pop), on 127.0.0.1, over a test's Maildir.

Courier's ``courierpop3login`` checks the password through courier-authlib
and then execs ``courierpop3d`` with the connection on standard input and
output.  The test stands in for the login part (it accepts USER and any
PASS) and runs the real ``courierpop3d``, which answers the PASS with its
``+OK logged in.`` and serves the rest of the session.

Debian's courier-pop and dovecot-pop3d cannot be installed together (both
provide pop3-server), so tests/debian-packages.txt does not list it and
these tests are skipped, in CI too, unless ``apt-get install courier-pop``
was run on a machine without dovecot-pop3d.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from support import HOST

COURIERPOP3D = "/usr/lib/courier/courier/courierpop3d"


def require_courier() -> str:
    if not os.path.exists(COURIERPOP3D):
        pytest.skip("Courier's pop3d is not installed (courier-pop conflicts with dovecot-pop3d)")
    return COURIERPOP3D


def _serve(conn: socket.socket, maildir: str) -> None:
    with conn, conn.makefile("rwb", buffering=0) as stream:
        stream.write(b"+OK Hello there.\r\n")
        for _ in range(2):  # USER, then PASS: the login courier-authlib would check
            line = stream.readline()
            if not line.upper().startswith((b"USER ", b"PASS ")):
                stream.write(b"-ERR login first\r\n")
                return
            if line.upper().startswith(b"USER "):
                stream.write(b"+OK Password required.\r\n")
        env = {"PATH": "/usr/bin:/bin", "AUTHENTICATED": "alice", "MAILDIR": maildir, "TCPREMOTEIP": HOST}
        subprocess.run([COURIERPOP3D, maildir], stdin=conn.fileno(), stdout=conn.fileno(),
                       stderr=subprocess.DEVNULL, env=env, timeout=60, check=False)


@contextlib.contextmanager
def running_courier(maildir: str) -> Iterator[int]:
    """A port where Courier's pop3d serves ``maildir`` to any USER/PASS, one session at a time."""
    require_courier()
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            _serve(conn, maildir)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()
