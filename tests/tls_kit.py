"""Certificates made at test time (no private key is ever committed) and TLS clients."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from support import HOST, Client, ServerFixture, free_port, write_config


@dataclass(frozen=True)
class CertFiles:
    certificate: str
    key: str

    def config(self) -> dict[str, str]:
        return {"certificate": self.certificate, "key": self.key}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(directory: str, common_name: str = "localhost", rsa_key: bool = False) -> CertFiles:
    """A self-signed EC (or RSA) certificate for localhost and 127.0.0.1, in PEM files."""
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, common_name)
    files = CertFiles(base + ".crt", base + ".key")
    with open(files.certificate, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(files.key, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(files.key, 0o600)
    return files


def client_context(files: CertFiles) -> ssl.SSLContext:
    """A verifying client context that trusts exactly the test certificate."""
    return ssl.create_default_context(cafile=files.certificate)


def start_tls(client: Client, files: CertFiles) -> None:
    """Wrap the client's socket in TLS (after STLS's +OK); nothing may be left unread."""
    assert client.buf == b"", f"unread bytes before the handshake: {client.buf!r}"
    client.sock = client_context(files).wrap_socket(client.sock, server_hostname="localhost")


def connect_tls(port: int, files: CertFiles, timeout: float = 10.0) -> Client:
    """A client on an implicit-TLS port."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return Client(client_context(files).wrap_socket(raw, server_hostname="localhost"))


@contextlib.contextmanager
def server_with_tls_port(workdir: str, users: dict[str, dict[str, str]], files: CertFiles,
                         extra: dict[str, object] | None = None,
                         args: list[str] | None = None) -> Iterator[tuple[ServerFixture, int]]:
    """A pop3d listening on a plain port (``server.port``) and an implicit-TLS port."""
    port, tls_port = free_port(), free_port()
    listen = [f"tcp:{port}:interface={HOST}", f"tls:{tls_port}:interface={HOST}"]
    config: dict[str, object] = {"tls": files.config(), "listen": listen}
    config.update(extra or {})
    server = ServerFixture(workdir, port, write_config(workdir, users, port, config),
                           extra_args=list(args or []))
    try:
        yield server.start(), tls_port
    finally:
        server.stop()


def alice(workdir: str) -> dict[str, dict[str, str]]:
    """User alice (password alice-pw) with a Maildir of one 22-octet message, "Subject: hi"."""
    path = os.path.join(workdir, "alice")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub))
    with open(os.path.join(path, "new", "1700000000.M1P1.test"), "wb") as f:
        f.write(b"Subject: hi\n\nhello\n")
    return {"alice": {"password": "alice-pw", "maildrop": f"maildir:{path}"}}
