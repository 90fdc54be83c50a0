"""Shared helpers for tests that run a real pop3d over real sockets.

Only 127.0.0.1 is ever used.  Each server gets a free port and its own
temporary configuration, and is stopped (killed if need be) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from passlib.hash import sha512_crypt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Seconds a failed login waits in test servers (the default of 2 s would slow the suite).
TEST_FAILURE_DELAY = 0.05


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    """Path of an external program; skip the test locally if it is missing, fail in CI."""
    import pytest

    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/lib/nagios/plugins/{name}") if os.path.exists(p)), None
    )
    if path is None:
        message = f"{name} is not installed (tests/debian-packages.txt lists it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def fast_hash(password: str) -> str:
    """A real passlib hash that is quick to check (tests only)."""
    return sha512_crypt.using(rounds=1000).hash(password)


@dataclass
class ServerFixture:
    """A pop3d subprocess with its own config in ``workdir``."""

    workdir: str
    port: int
    config_path: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = ""
    extra_args: list[str] = field(default_factory=list)
    #: The pop3d to run (an installed one, for instance).
    program: list[str] = field(default_factory=lambda: [sys.executable, "-m", "pop3d"])

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=timeout)

    def start(self, wait: bool = True) -> ServerFixture:
        self.log_path = os.path.join(self.workdir, "server.log")
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*self.program, "-c", self.config_path, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env,
            start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"pop3d exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"+OK"):
                    s.sendall(b"QUIT\r\n")
                    return
            time.sleep(0.05)
        raise RuntimeError(f"pop3d did not start listening:\n{self.log()}")

    def log(self) -> str:
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as f:
            return f.read()
        return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM to the server's whole process group (workers too), SIGKILL if it lingers."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        # Even when the leader is gone, workers of its group may not be.
        deadline = time.monotonic() + 5
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_config(workdir: str, users: dict[str, dict[str, str]], port: int,
                 extra: dict[str, object] | None = None) -> str:
    """Write a config serving ``users`` ({name: {password, maildrop}}) on ``port``."""
    users_file = os.path.join(workdir, "users.yaml")
    with open(users_file, "w") as f:
        yaml.safe_dump({name: {"password": fast_hash(u["password"]), "maildrop": u["maildrop"]}
                        for name, u in users.items()}, f)
    config: dict[str, object] = {
        "hostname": "pop3d.test",
        "listen": [f"tcp:{port}:interface={HOST}"],
        "maildrop": f"mbox:{workdir}/%u.mbox",
        "users": [{"type": "virtual", "file": users_file}],
        # Failed logins wait 2 s by default; keep deliberate failures in tests quick
        # (a test that measures the delay passes its own ``auth`` section).
        "auth": {"failure_delay": TEST_FAILURE_DELAY, "max_failure_delay": TEST_FAILURE_DELAY},
        # Shared databases (LOGIN-DELAY, EXPIRE) stay in the test's folder, never /var/lib.
        "state_dir": os.path.join(workdir, "state"),
    }
    config.update(extra or {})
    path = os.path.join(workdir, "pop3d.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


@contextlib.contextmanager
def running_server(workdir: str, users: dict[str, dict[str, str]],
                   extra: dict[str, object] | None = None,
                   args: list[str] | None = None) -> Iterator[ServerFixture]:
    port = free_port()
    config = write_config(workdir, users, port, extra)
    server = ServerFixture(workdir, port, config, extra_args=list(args or []))
    try:
        yield server.start()
    finally:
        server.stop()


class Client:
    """A raw POP3 client over a socket, for exact transcripts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    @classmethod
    def connect(cls, port: int, timeout: float = 10.0) -> Client:
        return cls(socket.create_connection((HOST, port), timeout=timeout))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; got {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multiline(self) -> list[bytes]:
        """Lines of a multi-line body up to the '.', still dot-stuffed."""
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def cmd(self, command: str | bytes) -> bytes:
        self.send((command.encode() if isinstance(command, str) else command) + b"\r\n")
        return self.line()

    def closed(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection (reads EOF) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            while chunk := self.sock.recv(65536):
                self.buf += chunk
            return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def inetd_process(args: list[str], cwd: str) -> Iterator[tuple[Client, subprocess.Popen[bytes]]]:
    """``pop3d ARGS`` started as inetd starts it: fds 0, 1 and 2 are a loopback TCP connection.

    Yields the client end and the process; at the end the client is closed
    and the process killed if it is still running.
    """
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        client_sock = socket.create_connection(listener.getsockname(), timeout=10)
        server_sock, _ = listener.accept()
    with server_sock:
        proc = subprocess.Popen([sys.executable, "-m", "pop3d", *args], stdin=server_sock,
                                stdout=server_sock, stderr=server_sock, cwd=cwd)
    client = Client(client_sock)
    try:
        yield client, proc
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid``, in KiB (for tests that bound a server's memory)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def logged_in(port: int, user: str, password: str | None = None) -> Client:
    """A client logged in with USER/PASS (password ``<user>-pw`` unless given)."""
    c = Client.connect(port, timeout=30)
    assert c.line().startswith(b"+OK")
    c.cmd(f"USER {user}")
    assert c.cmd(f"PASS {password or user + '-pw'}").startswith(b"+OK")
    return c


def pass_login(port: int, name: str, password: str) -> bytes:
    """USER/PASS on a fresh connection; the answer to PASS (then QUIT)."""
    c = Client.connect(port)
    try:
        c.line()
        assert c.cmd(f"USER {name}").startswith(b"+OK")
        reply = c.cmd(f"PASS {password}")
        c.cmd("QUIT")
        return reply
    finally:
        c.close()


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM a daemon started with ``start_new_session=True`` and its children; SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
