"""HAProxy with ``send-proxy`` (v1, and v2 for POP3S) in front of pop3d: plain, STLS and POP3S through it."""

from __future__ import annotations

import contextlib
import poplib
import subprocess
import time

import pytest
from interop_kit import PASSWORD, as_wire, compare, interop_server, tool, torture_set
from support import HOST, free_port, stop_process_group
from tls_kit import client_context

MESSAGES = torture_set(small=20)
MODES = ("plain", "stls", "pop3s")

CONFIG = """\
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend pop3
    bind {host}:{front}
    default_backend pop3d
backend pop3d
    server pop3d {host}:{back} send-proxy
frontend pop3s
    bind {host}:{front_tls}
    default_backend pop3ds
backend pop3ds
    server pop3d {host}:{back_tls} send-proxy-v2
"""


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """pop3d with PROXY-protocol listeners, HAProxy before them; yields (server, port, tls port)."""
    workdir = tmp_path_factory.mktemp("haproxy")
    back, back_tls, front, front_tls = (free_port() for _ in range(4))
    listen = (f"haproxy:tcp:{back}:interface={HOST}", f"tls:haproxy:tcp:{back_tls}:interface={HOST}")
    with interop_server(str(workdir), dict.fromkeys(MODES, MESSAGES), more_listen=listen) as server:
        config = workdir / "haproxy.cfg"
        config.write_text(CONFIG.format(host=HOST, front=front, back=back,
                                        front_tls=front_tls, back_tls=back_tls))
        proc = subprocess.Popen([tool("haproxy"), "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while True:
                with contextlib.suppress(OSError):
                    poplib.POP3(HOST, front, timeout=5).quit()
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"haproxy did not start: {proc.stderr.read().decode(errors='replace')}")
                time.sleep(0.1)
            yield server, front, front_tls
        finally:
            stop_process_group(proc)


@pytest.mark.parametrize("mode", MODES)
def test_through_haproxy_send_proxy(proxied, mode):
    server, front, front_tls = proxied
    poplib._MAXLINE = 1 << 20
    if mode == "pop3s":
        pop: poplib.POP3 = poplib.POP3_SSL(HOST, front_tls, context=client_context(server.cert))
    else:
        pop = poplib.POP3(HOST, front)
    if mode == "stls":
        pop.stls(client_context(server.cert))
    pop.user(mode)
    pop.pass_(PASSWORD)
    count, _ = pop.stat()
    delivered = [b"".join(line + b"\r\n" for line in pop.retr(n)[1]) for n in range(1, count + 1)]
    pop.quit()
    compare(delivered, MESSAGES, as_wire)
