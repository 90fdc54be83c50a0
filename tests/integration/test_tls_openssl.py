"""TLS as ``openssl s_client`` sees it: ALPN, the cipher policy, min_version, resumption.

Each test runs s_client against a pop3d with an RSA certificate (so static-RSA
suites would be possible if the server allowed them), on STLS
(``-starttls pop3``) and on an implicit-TLS port.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support import ServerFixture, require_tool
from tls_kit import CertFiles, alice, make_certificate, server_with_tls_port

MODES = ["stls", "implicit"]


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> CertFiles:
    return make_certificate(str(tmp_path_factory.mktemp("rsa-certs")), rsa_key=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, cert) -> Iterator[tuple[ServerFixture, int]]:
    workdir = str(tmp_path_factory.mktemp("openssl"))
    with server_with_tls_port(workdir, alice(workdir), cert) as both:
        yield both


def s_client(ports: tuple[ServerFixture, int], mode: str, cert: CertFiles, *options: str,
             send: bytes = b"QUIT\r\n") -> subprocess.CompletedProcess[str]:
    """Run s_client once (it sends ``send`` after the handshake); its output and status."""
    fixture, tls_port = ports
    port = fixture.port if mode == "stls" else tls_port
    starttls = ["-starttls", "pop3"] if mode == "stls" else []
    argv = [require_tool("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", *starttls,
            "-CAfile", cert.certificate, "-servername", "localhost", "-verify_return_error", "-ign_eof",
            *options]
    return subprocess.run(argv, input=send.decode(), capture_output=True, text=True, timeout=30)


def handshake_ok(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and "Verify return code: 0 (ok)" in result.stdout


@pytest.mark.parametrize("mode", MODES)
def test_alpn_pop3_is_negotiated(server, cert, mode):
    result = s_client(server, mode, cert, "-alpn", "pop3")
    assert handshake_ok(result), result.stdout + result.stderr
    assert "ALPN protocol: pop3" in result.stdout
    assert "signing off" in result.stdout + result.stderr  # the session went on inside TLS


@pytest.mark.parametrize("mode", MODES)
def test_alpn_without_pop3_does_not_abort_the_handshake(server, cert, mode):
    result = s_client(server, mode, cert, "-alpn", "h2,http/1.1")
    assert handshake_ok(result), result.stdout + result.stderr
    assert "alert internal error" not in result.stderr
    assert "No ALPN negotiated" in result.stdout
    assert "signing off" in result.stdout + result.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("suite", ["AES128-SHA", "AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA",
                                   "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES128-GCM-SHA256"])
def test_cbc_and_static_rsa_suites_are_refused(server, cert, mode, suite):
    result = s_client(server, mode, cert, "-tls1_2", "-cipher", suite)
    assert not handshake_ok(result)
    assert "handshake failure" in result.stderr or "no cipher" in result.stderr, result.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("suite", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                   "ECDHE-RSA-CHACHA20-POLY1305"])
def test_ecdhe_aead_suites_are_accepted(server, cert, mode, suite):
    result = s_client(server, mode, cert, "-tls1_2", "-cipher", suite)
    assert handshake_ok(result), result.stderr
    assert f"Cipher is {suite}" in result.stdout


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_second_connection_resumes_the_session(server, cert, mode, version, tmp_path):
    session = str(tmp_path / "session.pem")
    first = s_client(server, mode, cert, version, "-sess_out", session)
    assert handshake_ok(first), first.stderr
    assert "New, " in first.stdout
    second = s_client(server, mode, cert, version, "-sess_in", session)
    assert handshake_ok(second), second.stderr
    assert "Reused, " in second.stdout, second.stdout


def test_min_version_and_ciphers_settings(tmp_path, cert):
    workdir = str(tmp_path)
    extra = {"tls": {**cert.config(), "min_version": 1.3}}
    with server_with_tls_port(workdir, alice(workdir), cert, extra) as ports:
        assert not handshake_ok(s_client(ports, "implicit", cert, "-tls1_2"))
        assert "Protocol  : TLSv1.3" in s_client(ports, "implicit", cert).stdout
    workdir = str(tmp_path / "loose")
    extra = {"tls": {**cert.config(), "ciphers": "DEFAULT"}}  # loosened: CBC accepted again
    with server_with_tls_port(workdir, alice(workdir), cert, extra) as ports:
        result = s_client(ports, "implicit", cert, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        assert handshake_ok(result), result.stderr
