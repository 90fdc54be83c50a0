"""The syslog writer: the wire format, and the fallback when syslog is missing."""

from __future__ import annotations

import io
import os
import socket

from pop3d.logs.syslog_writer import LOG_NOTICE, SyslogWriter


def test_writes_rfc3164_lines_to_the_configured_socket(tmp_path):
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        writer = SyslogWriter("in.qpopper", 2, path, io.StringIO())
        writer.write(LOG_NOTICE, "Stats: alice 1 2 3 4 localhost 127.0.0.1")
        data = server.recv(4096).decode()
    # facility mail (2) * 8 + notice (5) = 21
    assert data.startswith("<21>")
    assert data.endswith(f" in.qpopper[{os.getpid()}]: Stats: alice 1 2 3 4 localhost 127.0.0.1")


def test_missing_syslog_falls_back_to_stderr_and_says_so_once(tmp_path):
    stderr = io.StringIO()
    writer = SyslogWriter("pop3d", 2, str(tmp_path / "no-such-socket"), stderr)
    writer.write(LOG_NOTICE, "first")
    writer.write(LOG_NOTICE, "second")
    lines = stderr.getvalue().splitlines()
    assert sum("syslog is unavailable" in line for line in lines) == 1
    assert lines[1:] == [f"pop3d[{os.getpid()}]: first", f"pop3d[{os.getpid()}]: second"]


def test_syslog_coming_back_is_used_again(tmp_path):
    path = str(tmp_path / "log.sock")
    stderr = io.StringIO()
    writer = SyslogWriter("pop3d", 2, path, stderr)
    writer.write(LOG_NOTICE, "while down")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        writer.write(LOG_NOTICE, "back up")
        assert server.recv(4096).decode().endswith("back up")
    assert "back up" not in stderr.getvalue()


def test_a_multi_line_message_stays_one_line(tmp_path):
    stderr = io.StringIO()
    SyslogWriter("pop3d", 2, str(tmp_path / "none"), stderr).write(LOG_NOTICE, "one\ntwo\u2028three")
    assert stderr.getvalue().splitlines()[-1].endswith("one\\x0atwo\\u2028three")
