"""openssl s_client (STLS with ALPN pop3, and 995) and check_pop/check_spop with a monitor login."""

from __future__ import annotations

import pytest
from interop_kit import PASSWORD, interop_server, run, tool, torture_set
from support import HOST


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("tools"))
    users = {"user": torture_set(small=3), "monitor": {}}
    with interop_server(workdir, users, extra={"monitors": ["monitor"]}) as s:
        yield s


def s_client(server, *args: str, script: bytes) -> str:
    result = run([tool("openssl"), "s_client", "-CAfile", server.cert.certificate, "-verify_return_error",
                  "-verify_hostname", "localhost", "-crlf", "-ign_eof", *args], input=script, timeout=30)
    return result.stdout.decode(errors="replace")


@pytest.mark.parametrize("alpn", ["pop3", "h2"])
def test_openssl_starttls_pop3_with_alpn(server, alpn):
    out = s_client(server, "-starttls", "pop3", "-alpn", alpn, "-connect", f"{HOST}:{server.port}",
                   script=f"USER user\nPASS {PASSWORD}\nSTAT\nQUIT\n".encode())
    assert "Verify return code: 0 (ok)" in out, out
    assert ("ALPN protocol: pop3" if alpn == "pop3" else "No ALPN negotiated") in out, out
    assert "+OK user has" in out and "signing off" in out, out


def test_openssl_on_995(server):
    out = s_client(server, "-alpn", "pop3", "-connect", f"{HOST}:{server.tls_port}",
                   script=f"USER user\nPASS {PASSWORD}\nQUIT\n".encode())
    assert "ALPN protocol: pop3" in out and "+OK user has" in out, out


def test_check_pop_and_check_spop_log_in_as_the_monitor(server):
    login = f"USER monitor\r\nPASS {PASSWORD}\r\nQUIT\r\n"
    plain = run([tool("check_pop"), "-H", HOST, "-p", str(server.port), "-s", login,
                 "-e", "+OK monitor has 0 messages", "-M", "crit", "-t", "10"], check=False)
    assert plain.returncode == 0 and plain.stdout.startswith(b"POP OK"), plain.stdout
    tls = run([tool("check_spop"), "-H", HOST, "-p", str(server.tls_port), "-S", "-s", login,
               "-e", "+OK monitor has 0 messages", "-M", "crit", "-t", "10"], check=False)
    assert tls.returncode == 0 and b"OK" in tls.stdout, tls.stdout
    wrong_login = login.replace(PASSWORD, "wrong")
    wrong = run([tool("check_pop"), "-H", HOST, "-p", str(server.port), "-s", wrong_login,
                 "-e", "+OK monitor has 0 messages", "-M", "crit", "-t", "10"], check=False)
    assert wrong.returncode == 2, wrong.stdout  # a wrong password is CRITICAL: the check can fail
