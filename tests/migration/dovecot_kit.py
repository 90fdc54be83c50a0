"""Debian's Dovecot, started by a test on 127.0.0.1 with a private configuration.

Dovecot serves mail as the ``mail`` user (it refuses root), so the test's
maildrops are handed to that user; nothing is installed system-wide and no
system service is used.  ``dovecot -F`` runs in the foreground under the
test and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import HOST, IN_CI, free_port, stop_process_group


def require_dovecot() -> str:
    """The dovecot binary; skip locally (fail in CI) when it or root is missing."""
    path = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    problem = None
    if path is None:
        problem = "Dovecot is not installed (tests/debian-packages.txt lists dovecot-pop3d)"
    elif os.geteuid() != 0:
        problem = "Dovecot serves mail as the mail user: the test must run as root"
    if problem:
        missing(problem)
    return path


def missing(problem: str) -> None:
    """Skip the test locally; in CI a missing package is a failure."""
    if IN_CI:
        pytest.fail(problem)
    pytest.skip(problem)


def dovecot_version() -> str:
    return subprocess.run([require_dovecot(), "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def mail_user() -> pwd.struct_passwd:
    return pwd.getpwnam("mail")


def give_to_mail(path: str) -> None:
    """Hand a tree to the mail user, as a site's maildrops belong to the user serving them."""
    mail = mail_user()
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, mail.pw_uid, mail.pw_gid)


@dataclass
class Dovecot:
    port: int
    workdir: str
    proc: subprocess.Popen[bytes]
    #: Its IMAP port, when started with ``imap=True``.
    imap_port: int | None = None

    def log(self) -> str:
        with contextlib.suppress(OSError), open(os.path.join(self.workdir, "dovecot.log"),
                                                errors="replace") as f:
            return f.read()
        return ""


def _config(workdir: str, port: int, settings: dict[str, str], imap_port: int | None) -> str:
    mail = mail_user()
    lines = [
        f"base_dir = {workdir}/run", f"state_dir = {workdir}/state", f"log_path = {workdir}/dovecot.log",
        "protocols = pop3 imap" if imap_port else "protocols = pop3", f"listen = {HOST}", "ssl = no",
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain login", f"first_valid_uid = {mail.pw_uid}",
        "mail_location = maildir:~/Maildir",
        *(f"{key} = {value}" for key, value in settings.items()),
        "passdb {", "  driver = passwd-file", f"  args = scheme=PLAIN {workdir}/passwd", "}",
        "userdb {", "  driver = passwd-file", f"  args = {workdir}/passwd", "}",
        "service pop3-login {", "  inet_listener pop3 {", f"    port = {port}", "  }",
        "  inet_listener pop3s {", "    port = 0", "  }", "}",
        "service imap-login {", "  inet_listener imap {", f"    port = {imap_port or 0}", "  }",
        "  inet_listener imaps {", "    port = 0", "  }", "}",
    ]
    return "\n".join(lines) + "\n"


def _wait_greeting(port: int, proc: subprocess.Popen[bytes], workdir: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(os.path.join(workdir, "dovecot.err")) as err:
                raise RuntimeError(f"dovecot exited with {proc.returncode}: {err.read()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as s:
            s.settimeout(5)
            if s.recv(200).startswith(b"+OK"):
                return
        time.sleep(0.1)
    raise RuntimeError("dovecot did not start listening")


@contextlib.contextmanager
def running_dovecot(workdir: str, users: dict[str, tuple[str, str]],
                    settings: dict[str, str] | None = None, imap: bool = False) -> Iterator[Dovecot]:
    """Dovecot's POP3 server for ``users`` ({name: (password, mail location)}), e.g.
    ``maildir:/x/Maildir`` or ``mbox:/x/mail:INBOX=/x/alice.mbox``; ``settings`` are
    dovecot.conf lines (``pop3_uidl_format``...); ``imap``: its IMAP server too
    (Debian's dovecot-imapd)."""
    binary = require_dovecot()
    mail = mail_user()
    os.makedirs(workdir, exist_ok=True)
    port = free_port()
    imap_port = free_port() if imap else None
    if imap and not os.path.exists("/usr/lib/dovecot/imap"):
        missing("dovecot-imapd is not installed (tests/debian-packages.txt lists it)")
    with open(os.path.join(workdir, "passwd"), "w") as f:
        for name, (password, location) in users.items():
            home = os.path.join(workdir, "home", name)
            os.makedirs(home, exist_ok=True)
            os.chown(home, mail.pw_uid, mail.pw_gid)
            f.write(f"{name}:{password}:{mail.pw_uid}:{mail.pw_gid}::{home}::userdb_mail={location}\n")
    config = os.path.join(workdir, "dovecot.conf")
    with open(config, "w") as f:
        f.write(_config(workdir, port, settings or {}, imap_port))
    with open(os.path.join(workdir, "dovecot.err"), "wb") as err:
        proc = subprocess.Popen([binary, "-F", "-c", config], stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    server = Dovecot(port, workdir, proc, imap_port)
    try:
        _wait_greeting(port, proc, workdir)
        yield server
    finally:
        stop_process_group(proc)
