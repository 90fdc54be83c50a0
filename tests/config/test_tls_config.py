"""The tls section, tls: listen entries and plaintext_auth: every mistake names file and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tls_kit import make_certificate

from pop3d.config import ConfigError, load_config
from pop3d.server.tls import server_options


def write_config(tmp_path, **settings: object) -> str:
    users = tmp_path / "users.yaml"
    users.write_text("{}\n")
    config = {"hostname": "t", "users": [{"type": "virtual", "file": str(users)}], **settings}
    path = tmp_path / "pop3d.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def cert(tmp_path):
    return make_certificate(str(tmp_path / "certs"))


def test_without_tls_the_default_listen_is_plain_pop3_only(tmp_path):
    config = load_config(write_config(tmp_path))
    assert config.tls is None
    assert config.listen == ("tcp:110",)
    assert config.plaintext_auth == "loopback"


def test_with_tls_the_default_listen_adds_pop3s(tmp_path, cert):
    config = load_config(write_config(tmp_path, tls=cert.config()))
    assert config.tls is not None and config.tls.certificate == cert.certificate
    assert config.listen == ("tcp:110", "tls:995")


def test_relative_certificate_paths_are_taken_from_the_config_folder(tmp_path, cert):
    rel = {"certificate": "certs/localhost.crt", "key": "certs/localhost.key"}
    config = load_config(write_config(tmp_path, tls=rel))
    assert config.tls is not None and config.tls.key == cert.key


@pytest.mark.parametrize("which", ["certificate", "key"])
def test_missing_file_is_named_with_its_key(tmp_path, cert, which):
    tls = cert.config()
    tls[which] = str(tmp_path / "nowhere.pem")
    path = write_config(tmp_path, tls=tls)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.key == f"tls.{which}"
    assert str(tmp_path / "nowhere.pem") in exc.value.problem
    assert "No such file" in exc.value.problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_key_is_named(tmp_path, cert):
    os.chmod(cert.key, 0)
    with pytest.raises(ConfigError, match=r"tls\.key: cannot read .*Permission denied"):
        load_config(write_config(tmp_path, tls=cert.config()))


@pytest.mark.parametrize(("tls", "key"), [
    ({"certificate": "x"}, "tls.key"),
    ({"key": "x"}, "tls.certificate"),
])
def test_tls_needs_both_files(tmp_path, tls, key):
    (tmp_path / "x").write_text("")
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path, tls=tls))
    assert exc.value.key == key and exc.value.problem == "is required"


def test_unknown_tls_setting_is_refused(tmp_path, cert):
    with pytest.raises(ConfigError, match=r"tls\.chain: unknown setting"):
        load_config(write_config(tmp_path, tls={**cert.config(), "chain": "x"}))


def test_min_version_and_ciphers_are_read_and_checked(tmp_path, cert):
    settings = {**cert.config(), "min_version": 1.3, "ciphers": "DEFAULT"}
    config = load_config(write_config(tmp_path, tls=settings))
    assert (config.tls.min_version, config.tls.ciphers) == ("1.3", "DEFAULT")
    default = load_config(write_config(tmp_path, tls=cert.config())).tls
    assert (default.min_version, default.ciphers) == ("1.2", "ECDHE+AESGCM:ECDHE+CHACHA20")
    with pytest.raises(ConfigError, match=r"tls\.min_version: must be one of 1\.2, 1\.3, not 1\.1"):
        load_config(write_config(tmp_path, tls={**cert.config(), "min_version": 1.1}))
    with pytest.raises(ConfigError, match=r"tls\.ciphers: OpenSSL selects no cipher from 'NO-SUCH'"):
        load_config(write_config(tmp_path, tls={**cert.config(), "ciphers": "NO-SUCH"}))


def test_tls_listener_without_a_certificate_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"listen\[1\]: needs a tls section"):
        load_config(write_config(tmp_path, listen=["tcp:110", "tls:995"]))


def test_twisted_ssl_endpoint_strings_are_refused_in_favour_of_tls(tmp_path, cert):
    with pytest.raises(ConfigError, match=r"listen\[0\]: write tls:PORT"):
        load_config(write_config(tmp_path, tls=cert.config(), listen=["ssl:995:privateKey=k.pem"]))


def test_plaintext_auth_choices(tmp_path):
    assert load_config(write_config(tmp_path, plaintext_auth="never")).plaintext_auth == "never"
    with pytest.raises(ConfigError, match=r"plaintext_auth: must be one of always, loopback, never"):
        load_config(write_config(tmp_path, plaintext_auth="yes"))


def test_new_limits_are_read_and_checked(tmp_path):
    config = load_config(write_config(tmp_path, limits={
        "max_sasl_line": 4096, "max_connections": 7, "max_connections_per_address": 2}))
    assert (config.limits.max_sasl_line, config.limits.max_connections,
            config.limits.max_connections_per_address) == (4096, 7, 2)
    with pytest.raises(ConfigError, match=r"limits\.max_connections_per_address: must be at least 1"):
        load_config(write_config(tmp_path, limits={"max_connections_per_address": 0}))


# -- the PEM contents, checked when the server starts ------------------------------


def options_for(tmp_path, cert_file: str, key_file: str):
    config = load_config(write_config(tmp_path, tls={"certificate": cert_file, "key": key_file}))
    assert config.tls is not None
    return server_options(config.tls, config.path)


def test_good_certificate_and_key_make_server_options(tmp_path, cert):
    options = options_for(tmp_path, cert.certificate, cert.key)
    assert options.getContext() is not None


def test_a_chain_file_is_accepted_leaf_first(tmp_path, cert):
    other = make_certificate(str(tmp_path / "ca"), "ca")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(Path(cert.certificate).read_bytes() + Path(other.certificate).read_bytes())
    options = options_for(tmp_path, str(chain), cert.key)
    assert len(options.extraCertChain) == 1


def test_certificate_file_without_pem_is_named(tmp_path, cert):
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"tls\.certificate: .*junk\.crt holds no PEM certificate"):
        options_for(tmp_path, str(junk), cert.key)


def test_key_file_without_pem_is_named(tmp_path, cert):
    with pytest.raises(ConfigError, match=r"tls\.key: .*localhost\.crt holds no PEM private key"):
        options_for(tmp_path, cert.certificate, cert.certificate)


def test_key_that_does_not_match_the_certificate_is_refused(tmp_path, cert):
    other = make_certificate(str(tmp_path / "other"), "other")
    with pytest.raises(ConfigError, match=r"tls\.key: .*other\.key does not match the certificate"):
        options_for(tmp_path, cert.certificate, other.key)


def test_passphrase_protected_key_is_refused_clearly(tmp_path, cert):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(cert.key).read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ConfigError, match=r"tls\.key: .*locked\.key is encrypted with a passphrase"):
        options_for(tmp_path, cert.certificate, str(locked))


def run_pop3d(config_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pop3d", "-c", config_path],
                          capture_output=True, text=True, timeout=60)


def test_pop3d_refuses_to_start_with_a_mismatched_key_in_one_line(tmp_path, cert):
    other = make_certificate(str(tmp_path / "other"), "other")
    path = write_config(tmp_path, tls={"certificate": cert.certificate, "key": other.key},
                        listen=["tcp:0:interface=127.0.0.1"])
    out = run_pop3d(path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"pop3d: {path}: tls.key: {other.key} does not match the certificate "
                                  f"in {cert.certificate}")


def test_pop3d_refuses_to_start_with_a_missing_certificate_in_one_line(tmp_path, cert):
    missing = str(tmp_path / "gone.crt")
    path = write_config(tmp_path, tls={"certificate": missing, "key": cert.key})
    out = run_pop3d(path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"pop3d: {path}: tls.certificate: cannot read {missing}: "
                                  "No such file or directory")


@pytest.mark.parametrize("entry, message", [
    ("tls:tls:995", "wraps TLS in TLS"),
    ("tls:ssl:995", "wraps TLS in TLS"),
    ("haproxy:tls:995", r"write tls:haproxy:\.\.\. \(the PROXY header comes before the TLS handshake\)"),
])
def test_impossible_listener_chains_are_refused(tmp_path, cert, entry, message):
    with pytest.raises(ConfigError, match=rf"listen\[0\]: {message}"):
        load_config(write_config(tmp_path, tls=cert.config(), listen=[entry]))


@pytest.mark.parametrize("entry, endpoint, proxied", [
    ("tls:995", "tcp:995", False),
    ("tls:995:interface=::1", "tcp:995:interface=::1", False),
    ("tls:port=995", "tcp:port=995", False),
    ("tls:tcp6:995", "tcp6:995", False),
    ("tls:haproxy:tcp:995", "tcp:995", True),
    ("tls:haproxy:995", "tcp:995", True),
    ("tls:systemd:domain=INET:name=pop3s", "systemd:domain=INET:name=pop3s", False),
])
def test_what_a_tls_entry_wraps(entry, endpoint, proxied):
    from pop3d.server.proxy import strip_proxy
    from pop3d.server.tls import under_tls

    assert strip_proxy(under_tls(entry)) == (endpoint, proxied)
