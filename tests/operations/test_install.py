"""``python3 dev.py install``: a production install into a scratch root, upgraded, used and removed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from maildrop_builders import make_mbox
from support import ROOT, Client, ServerFixture, free_port, write_config

PROGRAMS = ("pop3d", "popauth", "pop3d-stats", "pop3d-migrate")


def dev_py(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, os.path.join(ROOT, "dev.py"), *args], capture_output=True,
                            text=True, timeout=600, cwd="/")
    assert result.returncode == 0, result.stderr
    return result


def log_in_with_installed_pop3d(tmp_path, sbin: str) -> None:
    make_mbox(str(tmp_path / "alice.mbox"), 2)
    port = free_port()
    config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                    "maildrop": f"mbox:{tmp_path}/alice.mbox"}}, port)
    server = ServerFixture(str(tmp_path), port, config, program=[os.path.join(sbin, "pop3d")]).start()
    try:
        client = Client.connect(port)
        assert client.line().startswith(b"+OK pop3d")
        assert client.cmd("USER alice").startswith(b"+OK")
        assert client.cmd("PASS alice-pw").startswith(b"+OK alice has 2 messages")
        assert client.cmd("QUIT").startswith(b"+OK")
        client.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_install_upgrade_and_uninstall_in_a_scratch_root(tmp_path):
    root = tmp_path / "root"
    sbin, prefix, etc = root / "usr/local/sbin", root / "opt/pop3d", root / "etc/pop3d"
    dev_py("install", "--root", str(root))

    for program in PROGRAMS:
        assert os.readlink(sbin / program) == str(prefix / "bin" / program)
    # The program runs from the venv, not from this checkout.
    where = subprocess.run([str(prefix / "bin/python"), "-c", "import pop3d; print(pop3d.__file__)"],
                           capture_output=True, text=True, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert where.stdout.startswith(str(prefix)), where
    # man finds the pages from PATH alone (man-db looks in ../share/man beside each PATH entry).
    env = {"PATH": f"{sbin}:/usr/bin:/bin"}
    for page in ("pop3d", "popauth", "pop3d-stats", "pop3d-migrate", "pop3d.yaml"):
        found = subprocess.run(["man", "-w", page], capture_output=True, text=True, env=env)
        assert found.stdout.startswith(str(root / "usr/local/share/man")), (page, found)
    service = (root / "etc/systemd/system/pop3d.service").read_text()
    assert f"ExecStart={sbin}/pop3d -s -c {etc}/pop3d.yaml" in service
    assert f"server      = {sbin}/pop3d" in (root / "etc/xinetd.d/pop3d").read_text()
    assert f"exec {sbin}/pop3d-stats -c {etc}/pop3d.yaml" in \
        (root / "etc/logwatch/scripts/services/pop3d").read_text()
    assert (root / "var/lib/pop3d").is_dir()
    sample = (etc / "pop3d.yaml").read_text()
    assert f"state_dir: {root}/var/lib/pop3d" in sample
    if os.geteuid() == 0:  # the sample (UNIX users over /var/mail, run_as mail) checks on Debian as root
        check = subprocess.run([str(sbin / "pop3d"), "-c", str(etc / "pop3d.yaml"), "--check-config"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    log_in_with_installed_pop3d(tmp_path, str(sbin))

    # Upgrade in place: the admin's configuration stays, the program is replaced.
    (etc / "pop3d.yaml").write_text(sample + "# the admin's edit\n")
    os.unlink(prefix / "bin" / "pop3d")
    result = dev_py("install", "--root", str(root))
    assert f"kept {etc}/pop3d.yaml" in result.stderr
    assert (etc / "pop3d.yaml").read_text().endswith("# the admin's edit\n")
    assert (prefix / "bin" / "pop3d").exists()
    log_in_with_installed_pop3d(tmp_path, str(sbin))

    dev_py("uninstall", "--root", str(root))
    assert not prefix.exists()
    assert not any(os.path.lexists(sbin / p) for p in PROGRAMS)
    assert not (root / "etc/systemd/system/pop3d.service").exists()
    assert not (root / "usr/local/share/man/man8/pop3d.8").exists()
    assert (etc / "pop3d.yaml").exists() and (root / "var/lib/pop3d").is_dir()


def test_install_refuses_to_replace_a_program_that_is_not_its_link(tmp_path):
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "pop3d").write_text("#!/bin/sh\n")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "dev.py"), "install", "--root",
                             str(tmp_path), "--bin-dir", str(sbin), "--prefix", str(tmp_path / "venv")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert f"{sbin}/pop3d exists and is not a link" in result.stderr
