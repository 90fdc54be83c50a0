"""Launch modes: inetd (fd 0 adopted, auto-detected, under a real xinetd) and systemd activation."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from daemons import POP3D, login
from maildrop_builders import make_mbox
from support import HOST, ROOT, Client, free_port, inetd_process, require_tool, write_config
from unix_kit import chown_tree, virtual_mail_spool

#: The port in the configuration (a daemon that binds it is not using the inherited socket).
CONFIGURED_PORT = "configured_port"


@pytest.fixture
def spool():
    """alice's mbox folder and the run_as serving it (virtual users never run as root under inetd)."""
    with virtual_mail_spool() as found:
        yield found


@pytest.fixture
def config(tmp_path, spool):
    folder, run_as = spool
    mbox = os.path.join(folder, "alice.mbox")
    make_mbox(mbox, 2)
    if run_as is not None:
        chown_tree(mbox, run_as["user"])
    users = {"alice": {"password": "alice-pw", "maildrop": f"mbox:{mbox}"}}
    port = free_port()
    (tmp_path / CONFIGURED_PORT).write_text(str(port))
    extra: dict[str, object] = {"auth": {"trusted_networks": ["127.0.0.0/8"]}}
    if run_as is not None:
        extra["run_as"] = run_as
    return write_config(str(tmp_path), users, port, extra)


def first_message_deleted(spool) -> bool:
    with open(os.path.join(spool[0], "alice.mbox"), "rb") as f:
        data = f.read()
    assert b"Subject: message 1" in data
    return b"Subject: message 0" not in data


def full_session(client: Client) -> None:
    assert login(client, "alice", "alice-pw").startswith(b"+OK alice has 2 messages")
    assert client.cmd("STAT").startswith(b"+OK 2 ")
    assert client.cmd("RETR 1").startswith(b"+OK")
    assert any(b"Subject: message 0" in line for line in client.multiline())
    assert client.cmd("DELE 1").startswith(b"+OK")
    assert client.cmd("QUIT").startswith(b"+OK")
    assert client.closed()



@pytest.mark.parametrize("flag", [["-i"], []], ids=["dash-i", "auto-detected"])
def test_inetd_mode_serves_the_socket_on_stdin_with_the_real_peer_address(tmp_path, config, spool, flag):
    trace = tmp_path / "trace.log"
    with inetd_process([*flag, "-c", config, "-t", str(trace)], str(tmp_path)) as (client, proc):
        client_port = client.sock.getsockname()[1]
        full_session(client)
        assert proc.wait(15) == 0
    text = trace.read_text()
    assert f"connection from 127.0.0.1 port {client_port}" in text
    assert first_message_deleted(spool)


def test_config_error_under_inetd_answers_pop3_not_a_stray_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("users: [{type: virtual, file: u.yaml}]\ntimout: 5\n")
    with inetd_process(["-i", "-c", str(bad)], str(tmp_path)) as (client, proc):
        assert client.line() == b"-ERR [SYS/TEMP] server configuration error, try later"
        assert client.closed()
        assert client.buf == b""
        assert proc.wait(15) == 2


def test_dash_i_without_a_socket_is_a_clear_error(config):
    result = subprocess.run([*POP3D, "-i", "-c", config], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "standard input is not a connected socket" in result.stderr


def test_a_full_session_under_xinetd(tmp_path, config, spool):
    xinetd = require_tool("xinetd")
    port = free_port()
    conf = tmp_path / "xinetd.conf"
    conf.write_text(f"""defaults
{{
    log_type = FILE {tmp_path}/xinetd.log
}}
service pop3d-test
{{
    type        = UNLISTED
    id          = pop3d-test
    port        = {port}
    bind        = {HOST}
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = {pwd.getpwuid(os.getuid()).pw_name}
    server      = {os.path.join(os.path.dirname(sys.executable), "pop3d")}
    server_args = -c {config} -s -t {tmp_path}/trace.log
    env         = PYTHONPATH={ROOT}
}}
""")
    proc = subprocess.Popen([xinetd, "-dontfork", "-f", str(conf), "-pidfile", str(tmp_path / "xinetd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        client = None
        deadline = time.monotonic() + 15
        while client is None:
            try:
                client = Client.connect(port)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client_port = client.sock.getsockname()[1]
        try:
            full_session(client)
        finally:
            client.close()
        trace = (tmp_path / "trace.log").read_text()
        assert f"connection from 127.0.0.1 port {client_port}" in trace
        assert "C: PASS <redacted>" in trace
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert first_message_deleted(spool)


@pytest.mark.parametrize("fdname", [["--fdname=pop3d.socket"], []], ids=["named", "unnamed"])
def test_systemd_socket_activation(tmp_path, config, spool, fdname):
    """Unnamed: systemd-socket-activate without --fdname sets no LISTEN_FDNAMES; pop3d once ignored it."""
    activate = require_tool("systemd-socket-activate")
    port = free_port()
    proc = subprocess.Popen([activate, "-l", f"{HOST}:{port}", *fdname, *POP3D, "-c", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client = Client.connect(port)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            full_session(client)
        finally:
            client.close()
        assert first_message_deleted(spool)
        # The configured port was not bound: systemd's socket took its place.
        with socket.socket() as probe:
            assert probe.connect_ex((HOST, int((tmp_path / CONFIGURED_PORT).read_text()))) != 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_the_shipped_systemd_units_start_pop3d_from_its_socket():
    with open(os.path.join(ROOT, "conf", "pop3d.socket")) as f:
        socket_unit = f.read()
    with open(os.path.join(ROOT, "conf", "pop3d.service")) as f:
        service_unit = f.read()
    assert "ListenStream=110" in socket_unit and "[Install]" in socket_unit
    assert "ExecStart=/usr/bin/pop3d " in service_unit and "Requires=pop3d.socket" in service_unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in service_unit


def test_failure_delays_grow_across_inetd_processes(tmp_path):
    """Each inetd connection is a new process; failed logins are still counted per address."""
    make_mbox(str(tmp_path / "alice.mbox"), 1)
    users = {"alice": {"password": "alice-pw", "maildrop": f"mbox:{tmp_path}/alice.mbox"}}
    config = write_config(str(tmp_path), users, free_port(),
                          {"auth": {"failure_delay": 0.3, "max_failure_delay": 10}})
    waits = []
    for _ in range(3):
        with inetd_process(["-i", "-c", config], str(tmp_path)) as (client, proc):
            client.line()
            client.cmd("USER alice")
            started = time.monotonic()
            assert client.cmd("PASS wrong") == b"-ERR [AUTH] invalid user name or password"
            waits.append(time.monotonic() - started)
            client.cmd("QUIT")
            assert proc.wait(15) == 0
    # 0.3 s, then 0.6 s, then 1.2 s: the third process knew of the first two failures.
    assert waits[2] >= 1.1, waits
    with sqlite3.connect(str(tmp_path / "state" / "failures.sqlite3")) as db:
        assert db.execute("SELECT host, count FROM failures").fetchall() == [("127.0.0.1", 3)]
