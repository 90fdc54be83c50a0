"""Implicit TLS (POP3S, RFC 8314) in every launch mode: inetd and systemd socket activation."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
from daemons import POP3D, login
from maildrop_builders import make_mbox
from support import HOST, Client, free_port, inetd_process, require_tool, write_config
from tls_kit import CertFiles, client_context, make_certificate
from unix_kit import chown_tree, virtual_mail_spool


@pytest.fixture
def cert(tmp_path) -> CertFiles:
    return make_certificate(str(tmp_path / "certs"))


@pytest.fixture
def spool():
    """alice's mbox folder and the run_as serving it (virtual users never run as root under inetd)."""
    with virtual_mail_spool() as found:
        yield found


def configure(tmp_path, cert: CertFiles | None, spool: tuple[str, dict[str, str] | None]) -> str:
    folder, run_as = spool
    mbox = os.path.join(folder, "alice.mbox")
    make_mbox(mbox, 2)
    users = {"alice": {"password": "alice-pw", "maildrop": f"mbox:{mbox}"}}
    extra: dict[str, object] = {"plaintext_auth": "never"}
    if run_as is not None:
        chown_tree(mbox, run_as["user"])
        extra["run_as"] = run_as
    if cert is not None:
        extra["tls"] = cert.config()
    return write_config(str(tmp_path), users, free_port(), extra)



def tls_session(client: Client) -> None:
    """Inside TLS from the first byte: no STLS offered, passwords allowed (plaintext_auth: never)."""
    assert login(client, "alice", "alice-pw").startswith(b"+OK alice has 2 messages")  # reads the greeting
    assert client.cmd("CAPA").startswith(b"+OK")
    assert b"STLS" not in client.multiline()
    assert client.cmd("QUIT").startswith(b"+OK")


def test_inetd_implicit_tls(tmp_path, cert, spool):
    config = configure(tmp_path, cert, spool)
    with inetd_process(["-i", "--implicit-tls", "-c", config], str(tmp_path)) as (client, proc):
        client.sock = client_context(cert).wrap_socket(client.sock, server_hostname="localhost")
        tls_session(client)
        assert proc.wait(15) == 0


def test_inetd_implicit_tls_without_a_certificate_is_a_config_error(tmp_path, spool):
    config = configure(tmp_path, None, spool)
    with inetd_process(["-i", "--implicit-tls", "-c", config], str(tmp_path)) as (client, proc):
        # The reason goes to syslog; the client gets one POP3 line, never a traceback.
        assert client.line() == b"-ERR [SYS/TEMP] server configuration error, try later"
        assert client.closed() and client.buf == b""
        assert proc.wait(15) == 2


def connect_when_ready(port: int, proc: subprocess.Popen, timeout: float = 15) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((HOST, port), timeout=10)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_systemd_socket_named_pop3s_speaks_implicit_tls(tmp_path, cert, spool):
    """Two sockets, as pop3d.socket and pop3s.socket pass them: the one named pop3s is POP3S."""
    activate = require_tool("systemd-socket-activate")
    config = configure(tmp_path, cert, spool)
    plain, tls = free_port(), free_port()
    proc = subprocess.Popen([activate, "-l", f"{HOST}:{plain}", "-l", f"{HOST}:{tls}",
                             "--fdname=pop3d.socket:pop3s", *POP3D, "-c", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path),
                            start_new_session=True)
    try:
        raw = connect_when_ready(tls, proc)
        client = Client(client_context(cert).wrap_socket(raw, server_hostname="localhost"))
        try:
            tls_session(client)
        finally:
            client.close()
        # The other socket is plain POP3 with STLS.
        c = Client(connect_when_ready(plain, proc))
        assert c.line().startswith(b"+OK pop3d")
        assert c.cmd("CAPA").startswith(b"+OK") and b"STLS" in c.multiline()
        c.cmd("QUIT")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_the_shipped_pop3s_socket_names_its_socket_for_pop3d():
    from support import ROOT

    from pop3d.server.systemd import IMPLICIT_TLS_NAME

    with open(os.path.join(ROOT, "conf", "pop3s.socket")) as f:
        unit = f.read()
    with open(os.path.join(ROOT, "conf", "pop3d.service")) as f:
        service = f.read()
    assert "ListenStream=995" in unit and f"FileDescriptorName={IMPLICIT_TLS_NAME}" in unit
    assert "Service=pop3d.service" in unit
    assert "Sockets=pop3d.socket pop3s.socket" in service
