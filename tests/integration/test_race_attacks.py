"""A user changing a maildrop while a session reads it, over real sockets.

Each test names the attack it stops: files that change between LIST and
RETR, or while RETR is sending them.
"""

from __future__ import annotations

import threading

from support import Client

NAME = "cur/1700000000.M1P1.grow:2,"
MESSAGE = b"Subject: grows\n\n" + b"x" * 100 + b"\n"


def login(port: int, user: str) -> Client:
    c = Client.connect(port, timeout=30)
    assert c.line().startswith(b"+OK")
    c.cmd(f"USER {user}")
    assert c.cmd(f"PASS {user}-pw").startswith(b"+OK")
    return c


def test_message_growing_while_retr_sends_it_does_not_stream_forever(make_server, tmp_path):
    """The owner appends to a message without end while RETR sends it.  Before, RETR read
    until the end of a file that never ended (343 MB for a 116-octet message in 3 s); now it
    sends the bytes the file had when RETR opened it, and the transfer ends."""
    maildir = tmp_path / "grow"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    path = maildir / NAME
    path.write_bytes(MESSAGE)
    server = make_server({"grow": {"password": "grow-pw", "maildrop": f"maildir:{maildir}"}})
    c = login(server.port, "grow")
    assert c.cmd("LIST 1") == b"+OK 1 %d" % (len(MESSAGE) + MESSAGE.count(b"\n"))
    stop = threading.Event()

    def append_forever() -> None:
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"y" * 65535 + b"\n")
                f.flush()

    appender = threading.Thread(target=append_forever)
    appender.start()
    received = 0
    try:
        c.send(b"RETR 1\r\n")
        tail = b""
        while not tail.endswith(b"\r\n.\r\n"):
            data = c.sock.recv(1 << 20)
            assert data, "connection closed during RETR"
            received += len(data)
            tail = (tail + data)[-5:]
            assert received < 64 << 20, "RETR kept sending what was appended after it began"
    finally:
        stop.set()
        appender.join()
    assert c.cmd("NOOP").startswith(b"+OK")
    c.close()
