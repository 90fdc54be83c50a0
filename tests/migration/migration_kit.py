"""Maildrops laid out as a predecessor left them, and ``pop3d-migrate check`` as a subprocess."""

from __future__ import annotations

import os
import poplib
import subprocess
import sys

from maildrop_builders import maildir_with
from support import HOST

PASSWORD = "migrate-pw"


def message(subject: str, body: str = "text\n", extra: str = "") -> bytes:
    return (f"From: carol@example.org\nTo: alice@example.org\nSubject: {subject}\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.org>\n{extra}\n{body}").encode()


def sized(base: str, data: bytes) -> str:
    """``base`` with the ``,S=`` (file) and ``,W=`` (CRLF) sizes Dovecot's LDA puts in names."""
    crlf_size = len(data) + data.count(b"\n")
    return f"{base},S={len(data)},W={crlf_size}"


#: A Maildir with files ({"cur/NAME": bytes, "new/NAME": bytes}), under the name the migration tests use.
make_maildir = maildir_with


def make_mbox(path: str, messages: list[bytes]) -> str:
    with open(path, "wb") as f:
        for i, data in enumerate(messages):
            f.write(f"From carol@example.org Mon Nov 30 00:0{i}:00 2026\n".encode() + data + b"\n")
    return path


def uidl_listing(port: int, user: str, password: str = PASSWORD) -> list[str]:
    pop = poplib.POP3(HOST, port, timeout=10)
    try:
        pop.user(user)
        pop.pass_(password)
        return [line.split()[1].decode() for line in pop.uidl()[1]]
    finally:
        pop.quit()


def run_check(workdir: str, old_port: int, new_port: int, users: list[str],
              *extra: str) -> subprocess.CompletedProcess[str]:
    users_file = os.path.join(workdir, "check-users")
    with open(users_file, "w") as f:
        f.write("# user password\n" + "".join(f"{user} {PASSWORD}\n" for user in users))
    return subprocess.run([sys.executable, "-m", "pop3d.migrate", "check", "--old", f"{HOST}:{old_port}",
                           "--new", f"{HOST}:{new_port}", "--users", users_file, *extra],
                          capture_output=True, text=True, timeout=120)


def table_row(output: str, user: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [user])
