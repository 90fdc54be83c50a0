"""Real UNIX accounts for tests: created with useradd/chpasswd, always removed afterwards."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
from maildrop_builders import make_mbox
from support import HOST, ROOT, Client, free_port, require_tool


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create UNIX accounts and switch users")


def run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def unix_account(password: str | None = None, method: str = "YESCRYPT",
                 home_mode: int = 0o700) -> Iterator[str]:
    """A fresh account ``p3t<random>`` with a home directory; deleted (with its home) on exit."""
    require_root()
    useradd, userdel = require_tool("useradd"), require_tool("userdel")
    name = "p3t" + secrets.token_hex(4)
    run(useradd, "--create-home", "--shell", "/usr/sbin/nologin", "--user-group", name)
    try:
        os.chmod(os.path.expanduser(f"~{name}"), home_mode)
        if password is not None:
            run(require_tool("chpasswd"), "-c", method, stdin=f"{name}:{password}\n")
        yield name
    finally:
        subprocess.run([userdel, "--remove", "--force", name], capture_output=True, timeout=60)
        subprocess.run(["groupdel", name], capture_output=True, timeout=60)


def shadow_hash(name: str) -> str:
    with open("/etc/shadow") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":")[1]
    raise KeyError(name)


def chown_tree(path: str, name: str) -> None:
    run("chown", "-R", f"{name}:{name}", path)


@contextlib.contextmanager
def virtual_mail_spool() -> Iterator[tuple[str, dict[str, str] | None]]:
    """A folder for virtual users' maildrops and the ``run_as`` that serves them under inetd.

    As root: a fresh account owns a world-traversable folder (tmp_path is root's
    alone), since pop3d never serves a virtual user's session as root.  Not
    root: a plain temporary folder and no ``run_as`` (the process keeps its identity).
    """
    spool = tempfile.mkdtemp(prefix="p3t-vmail-")
    try:
        os.chmod(spool, 0o755)
        if os.geteuid() != 0:
            yield spool, None
            return
        with unix_account() as name:
            chown_tree(spool, name)
            yield spool, {"user": name, "group": name}
    finally:
        subprocess.run(["rm", "-rf", spool], check=False)


@contextlib.contextmanager
def debian_spool(user: str, mode: int = 0o2775) -> Iterator[str]:
    """A /var/mail look-alike (root:mail 2775) holding ``user``'s mbox (user:mail 0660)."""
    spool = tempfile.mkdtemp(prefix="p3t-var-mail-")
    mail = grp.getgrnam("mail").gr_gid
    try:
        os.chown(spool, 0, mail)
        os.chmod(spool, mode)
        path = os.path.join(spool, user)
        make_mbox(path, 4)
        os.chown(path, pwd.getpwnam(user).pw_uid, mail)
        os.chmod(path, 0o660)
        yield spool
    finally:
        subprocess.run(["rm", "-rf", spool], check=False)


@contextlib.contextmanager
def xinetd(workdir: str, config: str, program: str | None = None) -> Iterator[int]:
    """A real xinetd running ``program -i -c config`` (default: this checkout's pop3d) as root."""
    program = program or os.path.join(os.path.dirname(sys.executable), "pop3d")
    binary = require_tool("xinetd")
    port = free_port()
    conf = os.path.join(workdir, "xinetd.conf")
    with open(conf, "w") as f:
        f.write(f"""defaults
{{
    log_type = FILE {workdir}/xinetd.log
}}
service pop3d-var-mail
{{
    type        = UNLISTED
    port        = {port}
    bind        = {HOST}
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = root
    server      = {program}
    server_args = -i -c {config}
    env         = PYTHONPATH={ROOT}
}}
""")
    pid_file = os.path.join(workdir, "xinetd.pid")
    proc = subprocess.Popen([binary, "-dontfork", "-f", conf, "-pidfile", pid_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_listening(port, proc)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def wait_until_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Until a daemon (``proc``) accepts on ``port``; raises if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            Client.connect(port).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
