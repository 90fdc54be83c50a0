"""Issue 11's whole path, as root, as the docs tell it: install, UNIX users over a /var/mail look-alike,
serve under xinetd (the installed service) and standalone (the installed program, run_as mail), then read
the Stats with the installed logwatch service and pop3d-stats.

Only the addresses change from the docs: a scratch root for the install, a spool folder laid out like
Debian's /var/mail in place of /var/mail itself, a private rsyslogd, and free loopback ports.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from daemons import login, rsyslogd
from support import HOST, ROOT, Client, ServerFixture, free_port, require_tool
from unix_kit import debian_spool, require_root, unix_account, wait_until_listening

PASSWORD = "Whole-path pw 1!"


def xinetd_from_the_installed_service(root: str, port: int) -> subprocess.Popen[bytes]:
    """The installed /etc/xinetd.d/pop3d, enabled as the docs say, on a free loopback port."""
    with open(os.path.join(root, "etc/xinetd.d/pop3d")) as f:
        service = f.read().replace("disable     = yes", "disable     = no")
    where = f"    type = UNLISTED\n    port = {port}\n    bind = {HOST}\n"
    service = service.replace("service pop3\n{\n", "service pop3\n{\n" + where)
    conf = os.path.join(root, "xinetd.conf")
    with open(conf, "w") as f:
        f.write(f"defaults\n{{\n    log_type = FILE {root}/xinetd.log\n}}\n{service}")
    command = [require_tool("xinetd"), "-dontfork", "-f", conf, "-pidfile", f"{root}/xinetd.pid"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def fetch_and_delete_one(port: int, name: str) -> None:
    client = Client.connect(port)
    try:
        assert login(client, name, PASSWORD).startswith(b"+OK")
        assert client.cmd("DELE 1").startswith(b"+OK")
        assert client.cmd("QUIT").startswith(b"+OK")
    finally:
        client.close()


@pytest.mark.slow
def test_install_unix_users_over_var_mail_xinetd_standalone_and_the_reports(tmp_path):
    require_root()
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -m to show logwatch the scratch /etc/logwatch")
    logwatch = require_tool("logwatch")
    os.chmod(tmp_path, 0o755)
    root = str(tmp_path / "root")
    subprocess.run([sys.executable, os.path.join(ROOT, "dev.py"), "install", "--root", root],
                   check=True, capture_output=True, timeout=600)
    # The syslog socket is reached after pop3d gave up root: not below tmp_path's private parents.
    logdir = Path(tempfile.mkdtemp(prefix="p3t-syslog-"))
    os.chmod(logdir, 0o755)
    try:
        whole_path(tmp_path, root, logdir, logwatch, unshare)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def whole_path(tmp_path: Path, root: str, logdir: Path, logwatch: str, unshare: str) -> None:
    sbin, etc = f"{root}/usr/local/sbin", f"{root}/etc/pop3d/pop3d.yaml"
    with unix_account(PASSWORD) as name, debian_spool(name) as spool, rsyslogd(str(logdir)) as syslog:
        # Configure as pop3d.yaml's comments say; only the spool and the syslog socket are moved.
        with open(etc) as f:
            config = yaml.safe_load(f)
        config["users"][0]["maildrop"] = f"mbox:{spool}/%u"
        config["logging"] = {"syslog_socket": syslog.socket_path}
        config["auth"] = {"trusted_networks": ["127.0.0.0/8"]}
        inetd_port, standalone_port = free_port(), free_port()
        config["listen"] = [f"tcp:{standalone_port}:interface={HOST}"]
        with open(etc, "w") as f:
            yaml.safe_dump(config, f)
        check = subprocess.run([f"{sbin}/pop3d", "-c", etc, "--check-config"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr

        xinetd = xinetd_from_the_installed_service(root, inetd_port)
        try:
            wait_until_listening(inetd_port, xinetd)
            fetch_and_delete_one(inetd_port, name)
        finally:
            os.killpg(xinetd.pid, signal.SIGTERM)
            xinetd.wait(10)
        server = ServerFixture(str(tmp_path), standalone_port, etc, program=[f"{sbin}/pop3d"],
                               extra_args=["-s"]).start()
        try:
            fetch_and_delete_one(standalone_port, name)
        finally:
            server.stop()
        log = syslog.wait_for(f"Stats: {name} 1 ")
        assert log.count(f"Stats: {name} 1 ") == 2, log

    stats = subprocess.run([f"{sbin}/pop3d-stats", "-c", etc, syslog.mail_log], capture_output=True,
                           text=True)
    row = next(line.split() for line in stats.stdout.splitlines() if line.strip().startswith(name + " "))
    assert row[:2] == [name, "2"], stats.stdout
    script = (f"mount --bind {root}/etc/logwatch /etc/logwatch && exec {logwatch} --service pop3d "
              f"--detail 10 --range All --output stdout --logdir {logdir} --hostformat none")
    report = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TZ="UTC")).stdout
    assert "pop3d Begin" in report and re.search(rf"^ *{name} +2 ", report, re.M), report
    assert re.search(r"^ *messages deleted +2$", report, re.M), report
