"""-t: the protocol trace file; and --help lists every flag."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time

import pytest
from daemons import POP3D, login, rsyslogd
from maildrop_builders import make_mbox
from support import Client
from tls_kit import alice, make_certificate, server_with_tls_port, start_tls

from pop3d.cli import build_parser


def traced_alice(tmp_path, make_server, messages: int = 1, **extra):
    """A server tracing (``-t``) to tmp_path/trace.log, alice with ``messages`` in an mbox."""
    make_mbox(str(tmp_path / "alice.mbox"), messages)
    trace = tmp_path / "trace.log"
    users = {"alice": {"password": "Sekrit-pw", "maildrop": f"mbox:{tmp_path}/alice.mbox"}}
    server = make_server(users, extra={"auth": {"trusted_networks": ["127.0.0.0/8"]}, **extra},
                         args=["-t", str(trace)])
    return server, trace



def test_trace_has_both_directions_timestamps_ids_and_no_secrets(tmp_path, make_server):
    server, trace = traced_alice(tmp_path, make_server)
    client = Client.connect(server.port)
    assert login(client, "alice", "Sekrit-pw").startswith(b"+OK")
    assert client.cmd("APOP alice 0123456789abcdef0123456789abcdef").startswith(b"-ERR")
    assert client.cmd("RETR 1").startswith(b"+OK")
    client.multiline()
    client.cmd("QUIT")
    client.close()
    server.stop()
    assert stat.S_IMODE(os.stat(trace).st_mode) == 0o600
    text = trace.read_text()
    assert "Sekrit-pw" not in text and "0123456789abcdef" not in text
    record = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(\d+-\d+)\] (C|S|\*):? ")
    ids = {record.match(line).group(1) for line in text.splitlines()}  # every line matches
    session = [line.split("] ", 1)[1] for line in text.splitlines()]
    assert "C: USER alice" in session and "C: PASS <redacted>" in session
    assert "S: +OK password required for alice" in session
    assert "C: APOP alice <redacted>" in session
    assert "S: (message 1; contents not traced)" in session
    assert len(ids) >= 2  # the readiness probe and this session are told apart


#: base64 of "\0alice\0Sekrit-pw" and of "Sekrit-pw": SASL answers a client pipelines.
PLAIN_ANSWER = "AGFsaWNlAFNla3JpdC1wdw=="
LOGIN_PASSWORD = "U2Vrcml0LXB3"


def test_sasl_answer_pipelined_after_a_refused_auth_is_redacted(tmp_path, make_server):
    make_mbox(str(tmp_path / "alice.mbox"), 1)
    trace = tmp_path / "trace.log"
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    users = {"alice": {"password": "Sekrit-pw", "maildrop": f"mbox:{tmp_path}/alice.mbox"}}
    with rsyslogd(str(logdir)) as syslog:
        server = make_server(users, args=["-t", str(trace), "-d"],
                             extra={"auth": {"trusted_networks": ["127.0.0.0/8"]},
                                    "logging": {"syslog_socket": syslog.socket_path}})
        client = Client.connect(server.port)
        client.line()
        # Refused mechanisms, each followed at once by the answers the client had ready.
        client.send(f"AUTH NOSUCH\r\n{PLAIN_ANSWER}\r\nAUTH X-LOGIN\r\nYWxpY2U=\r\n{LOGIN_PASSWORD}\r\n"
                    f"NOOP\r\nAUTH PLAIN\r\n{PLAIN_ANSWER}\r\nSTAT\r\nQUIT\r\n".encode())
        assert client.closed()
        log = syslog.wait_for("closed: alice", timeout=10)
    server.stop()
    text = trace.read_text()
    for logged in (text, log):
        assert PLAIN_ANSWER not in logged and LOGIN_PASSWORD not in logged and "YWxpY2U=" not in logged
    session = [line.split("] ", 1)[1] for line in text.splitlines()]
    assert session.count("C: <redacted> (SASL response)") == 4
    assert "C: NOOP" in session and "C: STAT" in session  # commands after them are shown again
    assert "C: AUTH NOSUCH" in session


@pytest.mark.slow
def test_pipelined_lists_cannot_flood_the_trace(tmp_path, make_server):
    server, trace = traced_alice(tmp_path, make_server, 500)
    client = Client.connect(server.port, timeout=60)
    assert login(client, "alice", "Sekrit-pw").startswith(b"+OK")
    before = os.path.getsize(trace)
    burst = b"LIST\r\n" * 300
    client.send(burst)
    for _ in range(300):
        assert client.line().startswith(b"+OK 500 messages")
        assert len(client.multiline()) == 500
    client.cmd("QUIT")
    client.close()
    server.stop()
    grown = os.path.getsize(trace) - before
    # Each LIST: its command line, the +OK line and one line counting the 500 others.
    assert grown < 40 * len(burst), f"{grown} trace octets for {len(burst)} sent"
    assert "S: (501 more lines, " in trace.read_text()  # the 500 and the "."


def trace_session(trace) -> list[str]:
    return [line.split("] ", 1)[1] for line in trace.read_text().splitlines()]


@pytest.mark.slow
def test_trace_records_autologout_and_the_shutdown_err(tmp_path, make_server):
    server, trace = traced_alice(tmp_path, make_server, timeout=1, shutdown_grace=0)
    idle = Client.connect(server.port)
    assert idle.line().startswith(b"+OK")
    assert idle.line() == b"-ERR autologout; idle for too long"
    client = Client.connect(server.port)
    assert login(client, "alice", "Sekrit-pw").startswith(b"+OK")
    client.send(b"NOOP\r\n")
    assert client.line() == b"+OK"
    server.signal(signal.SIGTERM)
    assert client.line() == b"-ERR [SYS/TEMP] server shutting down; no messages were deleted"
    assert server.proc.wait(10) == 0
    session = trace_session(trace)
    assert "S: -ERR autologout; idle for too long" in session
    assert "S: -ERR [SYS/TEMP] server shutting down; no messages were deleted" in session


def test_trace_records_every_tls_outcome(tmp_path):
    cert = make_certificate(str(tmp_path / "certs"))
    trace = tmp_path / "trace.log"
    workdir = str(tmp_path / "server")
    os.makedirs(workdir)
    with server_with_tls_port(workdir, alice(workdir), cert, args=["-t", str(trace)]) as (server, tls_port):
        client = Client.connect(server.port)
        assert client.line().startswith(b"+OK")
        assert client.cmd("STLS").startswith(b"+OK")
        start_tls(client, cert)
        assert client.cmd("QUIT").startswith(b"+OK")
        # A client that offers only TLS 1.2 with CBC suites: the handshake fails, the trace says why.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        old.set_ciphers("ECDHE-ECDSA-AES128-SHA")
        raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
        try:
            old.wrap_socket(raw, server_hostname="localhost")
            raise AssertionError("a CBC handshake succeeded")
        except (ssl.SSLError, ConnectionError):
            pass
        raw.close()
        deadline = time.monotonic() + 5
        while "TLS failed" not in trace.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    session = trace_session(trace)
    established = [line for line in session if line.startswith("* TLS established: ")]
    assert established and re.fullmatch(r"\* TLS established: TLSv1\.[23] \S+", established[0]), established
    failed = [line for line in session if line.startswith("* TLS failed: ")]
    assert failed and "no shared cipher" in failed[0], failed


def test_trace_file_that_cannot_be_opened_is_a_clear_error(tmp_path):
    config = tmp_path / "pop3d.yaml"
    config.write_text("users: [{type: virtual, file: users.yaml}]\nlisten: ['tcp:0:interface=127.0.0.1']\n")
    (tmp_path / "users.yaml").write_text("{}\n")
    result = subprocess.run([*POP3D, "-c", str(config), "-t", str(tmp_path / "missing" / "trace")],
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "cannot open trace file" in result.stderr


def test_help_lists_every_flag_with_a_description():
    parser = build_parser()
    result = subprocess.run([*POP3D, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for action in parser._actions:
        for flag in action.option_strings:
            assert re.search(rf"(^|[ ,]){re.escape(flag)}\b", result.stdout), flag
        assert action.help and action.help.strip(), action.option_strings
    for flag in ("-c", "-T", "-d", "-s", "-t", "-i", "--version"):
        assert flag in [s for a in parser._actions for s in a.option_strings]
