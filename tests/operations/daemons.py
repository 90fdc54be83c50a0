"""Helpers for the operations tests: a private rsyslogd, and short POP3 sessions."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from support import Client, require_tool

POP3D = [sys.executable, "-m", "pop3d"]


@dataclass
class Rsyslogd:
    """An rsyslogd with its own socket, writing facility mail to ``mail_log``."""

    socket_path: str
    mail_log: str
    proc: subprocess.Popen[bytes]

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """The mail.log contents once ``text`` appears in it."""
        deadline = time.monotonic() + timeout
        content = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError), open(self.mail_log, errors="replace") as f:
                content = f.read()
            if text in content:
                return content
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never reached {self.mail_log}:\n{content}")


@contextlib.contextmanager
def rsyslogd(workdir: str) -> Iterator[Rsyslogd]:
    """Start a private rsyslogd (no /dev/log, no kernel log); stop it afterwards."""
    binary = require_tool("rsyslogd")
    sock, mail_log, pid_file = (os.path.join(workdir, n) for n in ("log.sock", "mail.log", "rsyslogd.pid"))
    conf = os.path.join(workdir, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(f"""global(workDirectory="{workdir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" RateLimit.Interval="0")
mail.*  action(type="omfile" file="{mail_log}" template="RSYSLOG_TraditionalFileFormat")
""")
    proc = subprocess.Popen([binary, "-n", "-f", conf, "-i", pid_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                error = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"rsyslogd did not start: {error}")
            time.sleep(0.05)
        yield Rsyslogd(sock, mail_log, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def login(client: Client, user: str, password: str) -> bytes:
    assert client.line().startswith(b"+OK")
    assert client.cmd(f"USER {user}").startswith(b"+OK")
    return client.cmd(f"PASS {password}")
