"""Monitor accounts and health checks: check_pop and an HAProxy tcp-check, on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time

import pytest
from support import HOST, Client, free_port, require_tool

MONITOR = {"password": "mon-pw", "maildrop": "maildir:/nonexistent/monitor"}


def settings(tmp_path) -> dict[str, object]:
    return {"monitors": ["mon"],
            "login_delay": {"seconds": 3600, "state_dir": str(tmp_path / "state"), "policy": "reject"}}


def test_monitor_logs_in_with_no_maildrop_no_lock_no_login_delay(make_server, tmp_path):
    server = make_server({"mon": MONITOR}, settings(tmp_path))
    clients = []
    for _ in range(3):  # concurrent and repeated: no lock, no LOGIN-DELAY
        c = Client.connect(server.port)
        c.line()
        c.cmd("USER mon")
        assert c.cmd("PASS mon-pw") == b"+OK mon has 0 messages (0 octets)"
        assert c.cmd("STAT") == b"+OK 0 0"
        assert c.cmd("CAPA").startswith(b"+OK")
        assert not any(line.startswith(b"LOGIN-DELAY") for line in c.multiline())
        clients.append(c)
    for c in clients:
        assert c.cmd("QUIT").startswith(b"+OK")
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER mon")
    assert c.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
    assert not os.path.exists("/nonexistent/monitor")


def test_check_pop(make_server, tmp_path):
    check_pop = require_tool("check_pop")
    server = make_server({"mon": MONITOR}, settings(tmp_path))
    ok = subprocess.run([check_pop, "-H", HOST, "-p", str(server.port), "-e", "+OK", "-t", "10"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("POP OK")
    # It can fail: a port with nothing listening is CRITICAL.
    down = subprocess.run([check_pop, "-H", HOST, "-p", str(free_port()), "-t", "5"],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 2, down.stdout


HAPROXY_CONFIG = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 2s
listen pop3
    bind {host}:{front}
    option tcp-check
    tcp-check connect
    tcp-check expect string +OK
    tcp-check send "USER mon\\r\\n"
    tcp-check expect string +OK
    tcp-check send "PASS {password}\\r\\n"
    tcp-check expect string +OK
    tcp-check send "QUIT\\r\\n"
    tcp-check expect string +OK
    server pop3d {host}:{port} check inter 200ms rise 2 fall 2
"""


def server_status(sock_path: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    header, *rows = data.decode().splitlines()
    columns = header.lstrip("# ").split(",")
    for row in rows:
        fields = dict(zip(columns, row.split(","), strict=False))
        if fields.get("svname") == "pop3d":
            return fields["status"]
    return "missing"


@contextlib.contextmanager
def haproxy(tmp_path, port: int, password: str):
    binary = require_tool("haproxy")
    sock = str(tmp_path / f"haproxy-{password}.sock")
    config = tmp_path / f"haproxy-{password}.cfg"
    config.write_text(HAPROXY_CONFIG.format(sock=sock, host=HOST, front=free_port(), port=port,
                                            password=password))
    proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        yield proc, sock
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_status(proc: subprocess.Popen, sock: str, wanted: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"haproxy exited: {proc.stderr.read().decode(errors='replace')}")
        with contextlib.suppress(OSError):
            status = server_status(sock)
            if status == wanted:
                return status
        time.sleep(0.2)
    return status


def test_haproxy_tcp_check_logs_in_as_the_monitor(make_server, tmp_path):
    server = make_server({"mon": MONITOR}, settings(tmp_path))
    with haproxy(tmp_path, server.port, "mon-pw") as (proc, sock):
        assert wait_status(proc, sock, "UP") == "UP"
        # Checks keep passing: each one logs in again, well inside LOGIN-DELAY.
        time.sleep(1)
        assert server_status(sock) == "UP"
    # The same check with a wrong password marks the server DOWN.
    with haproxy(tmp_path, server.port, "wrong") as (proc, sock):
        assert wait_status(proc, sock, "DOWN") == "DOWN"
