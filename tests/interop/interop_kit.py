"""The interoperability kit: a torture maildrop, a pop3d on loopback, real clients, checksums.

Each client test delivers the maildrop into local files (never through an MTA)
and compares what it delivered with what is on disk, message by message.  A
client that is not installed fails the run: the suite never skips silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from support import HOST, ServerFixture, free_port, write_config
from tls_kit import CertFiles, make_certificate

from pop3d.auth import mailauth

#: Header every torture message starts with, so a delivered copy is matched to its original.
ID_HEADER = b"X-Interop-Id"
SMALL_MESSAGES = 500
ATTACHMENT_OCTETS = 5 * 1024 * 1024
PASSWORD = "interop-pw"
APOP_SECRET = b"interop-apop"


def _attachment() -> bytes:
    """A 5 MB base64 attachment in 76-column lines (deterministic)."""
    import base64

    raw = hashlib.shake_256(b"interop").digest(ATTACHMENT_OCTETS * 3 // 4)
    encoded = base64.encodebytes(raw)
    return (b"Subject: attachment\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n"
            b"--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\n\n" + encoded + b"--b1--\n")


#: The torture messages, by name, as stored (LF line ends; the Maildir holds them as they are).
TORTURE: dict[str, bytes] = {
    "dot-lines": b"Subject: dots\n\n.\n..\n.leading dot\n. \n...\nend\n",
    "from-lines": b"Subject: from lines\n\nFrom the start\nFrom  two spaces\n>From quoted\nFrom \n",
    "attachment": _attachment(),
    "8bit-headers": "Subject: Grüße aus Köln\nFrom: Jürgen <j@example.org>\n\nbody é\n".encode(),
    "no-final-newline": b"Subject: no newline\n\nlast line without newline",
    "nul-bytes": b"Subject: nul\n\nbefore\x00after\n\x00\x00\nend\n",
    "bare-cr": b"Subject: bare cr\n\none\rtwo\nthree\r\n",
    "bare-lf": b"Subject: bare lf\r\n\r\nCRLF line\r\nbare LF line\nCRLF again\r\n",
    "headers-only": b"Subject: headers only\nFrom: a@example.org\n",
}


def message_bytes(name: str, body: bytes) -> bytes:
    return ID_HEADER + b": " + name.encode() + b"\n" + body


def torture_set(small: int = SMALL_MESSAGES) -> dict[str, bytes]:
    """Every message of the torture maildrop, by its id (``small``: how many of the small ones)."""
    messages = {name: message_bytes(name, body) for name, body in TORTURE.items()}
    for n in range(small):
        name = f"small-{n:03d}"
        messages[name] = message_bytes(name, f"Subject: small {n}\n\nsmall message {n}\n".encode())
    return messages


def write_maildir(path: str, messages: dict[str, bytes]) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for n, body in enumerate(messages.values()):
        with open(os.path.join(path, "new", f"{1700000000 + n}.M{n}P1.interop"), "wb") as f:
            f.write(body)


def maildir_count(path: str) -> int:
    return sum(len(os.listdir(os.path.join(path, sub))) for sub in ("new", "cur"))


def as_delivered(stored: bytes) -> bytes:
    """What a client that turns CRLF into LF delivers: the stored message with LF ends.

    pop3d sends every line with CRLF and ends a last line that has no newline;
    a bare CR stays as it is.
    """
    text = stored.replace(b"\r\n", b"\n")
    return text if text.endswith(b"\n") else text + b"\n"


def with_header_end(text: bytes) -> bytes:
    """A message of headers only with the blank line that ends a header block (clients that parse add it)."""
    return text if b"\n\n" in text else text + b"\n"


def as_wire(stored: bytes) -> bytes:
    """The message as RETR sends it, unstuffed: CRLF ends, a final CRLF added."""
    return as_delivered(stored).replace(b"\n", b"\r\n")


def message_id(message: bytes) -> str:
    found = re.search(rb"^" + ID_HEADER + rb": (\S+)", message, re.MULTILINE)
    assert found, f"delivered message without {ID_HEADER.decode()}: {message[:200]!r}"
    return found.group(1).decode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compare(delivered: list[bytes], expected: dict[str, bytes],
            transform: Callable[[bytes], bytes] = lambda b: b) -> None:
    """Each delivered message, by id, against ``transform(expected)``: checksums, then no duplicates."""
    seen: dict[str, int] = {}
    wrong = []
    for message in delivered:
        name = message_id(message)
        seen[name] = seen.get(name, 0) + 1
        if name not in expected:
            wrong.append(f"{name}: not in the maildrop")
        elif digest(message) != digest(transform(expected[name])):
            wrong.append(f"{name}: delivered {len(message)} octets {message[:120]!r}..., "
                         f"expected {len(transform(expected[name]))} {transform(expected[name])[:120]!r}...")
    duplicates = sorted(name for name, count in seen.items() if count > 1)
    missing = sorted(set(expected) - set(seen))
    assert not wrong, "messages differ:\n" + "\n".join(wrong[:10])
    assert not duplicates, f"delivered twice: {duplicates[:10]}"
    assert not missing, f"not delivered: {missing[:10]}"


def without_prepended(message: bytes, *headers: bytes) -> bytes:
    """The message without the trace headers a client puts before it (``Received:`` and the like).

    Every torture message starts with its id header, so whatever precedes it is the client's;
    it must consist of the named ``headers`` (and their continuation lines) only.
    """
    start = message.find(ID_HEADER + b": ")
    assert start >= 0, message[:300]
    for line in message[:start].splitlines():
        assert line[:1] in (b" ", b"\t") or line.split(b":")[0].lower() in [h.lower() for h in headers], (
            f"unexpected line before the message: {line!r}")
    return message[start:]


def read_maildir(path: str) -> list[bytes]:
    """Every message a client delivered into a Maildir."""
    out = []
    for sub in ("new", "cur"):
        folder = os.path.join(path, sub)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), "rb") as f:
                out.append(f.read())
    return out


def read_files(folder: str) -> list[bytes]:
    """Every message a client's MDA wrote, one file each."""
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out.append(f.read())
    return out


def tool(name: str) -> str:
    """Path of a client program; the run fails (never skips) when it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/lib/nagios/plugins/{name}") if os.path.exists(p)), None)
    if path is None:
        pytest.fail(f"interop client {name!r} is not installed: apt-get install the package "
                    f"tests/debian-packages.txt lists for it")
    return path


def run(args: list[str], timeout: float = 120, check: bool = True, **kwargs: object
        ) -> subprocess.CompletedProcess[bytes]:
    """Run a client; on failure the message carries its whole transcript."""
    result = subprocess.run(args, capture_output=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        pytest.fail(f"{args[0]} exited {result.returncode}\nstdout: {result.stdout.decode(errors='replace')}"
                    f"\nstderr: {result.stderr.decode(errors='replace')}")
    return result


@dataclass
class InteropServer:
    """A pop3d on loopback: ``port`` plain with STLS, ``tls_port`` implicit TLS, both with ``cert``."""

    server: ServerFixture
    tls_port: int
    cert: CertFiles
    workdir: str

    @property
    def port(self) -> int:
        return self.server.port

    def maildir(self, user: str) -> str:
        return os.path.join(self.workdir, "drops", user)


@contextlib.contextmanager
def interop_server(workdir: str, users: dict[str, dict[str, bytes]], extra: dict[str, object] | None = None,
                   apop: bool = False, more_listen: tuple[str, ...] = ()) -> Iterator[InteropServer]:
    """Serve each user's Maildir (``{user: messages}``); with ``apop``, every user has APOP_SECRET.

    ``more_listen``: endpoints besides the plain and the implicit-TLS port (a PROXY-protocol one).
    """
    cert = make_certificate(os.path.join(workdir, "tls"))
    accounts = {}
    for user, messages in users.items():
        path = os.path.join(workdir, "drops", user)
        write_maildir(path, messages)
        accounts[user] = {"password": PASSWORD, "maildrop": f"maildir:{path}"}
    port, tls_port = free_port(), free_port()
    config: dict[str, object] = {
        "hostname": "localhost", "tls": cert.config(),
        "listen": [f"tcp:{port}:interface={HOST}", f"tls:{tls_port}:interface={HOST}", *more_listen],
    }
    if apop:
        db = os.path.join(workdir, "mailauth")
        mailauth.write(db, dict.fromkeys(users, APOP_SECRET))
        config["auth"] = {"failure_delay": 0.05, "max_failure_delay": 0.05, "apop_database": db}
    config.update(extra or {})
    server = ServerFixture(workdir, port, write_config(workdir, accounts, port, config))
    try:
        yield InteropServer(server.start(), tls_port, cert, workdir)
    finally:
        server.stop()
