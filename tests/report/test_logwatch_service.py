"""The logwatch service pop3d that ``dev.py install`` ships: real rsyslogd, real pop3d -s, real logwatch.

logwatch reads its services from /etc/logwatch only, so the scratch root's
/etc/logwatch is bind-mounted there in a private mount namespace (root only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from maildrop_builders import make_mbox
from support import ROOT, require_tool
from test_report_e2e import rsyslogd, session, wait_for


def require_private_mounts() -> str:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None or subprocess.run(
            [unshare, "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root and unshare -m to show logwatch a scratch /etc/logwatch")
    return unshare


@pytest.mark.slow
def test_logwatch_service_pop3d_reports_users_and_bytes_with_the_default_ident(tmp_path, make_server):
    """Debian's logwatch reported nothing for ident pop3d: its qpopper service wants in.qpopper."""
    logwatch = require_tool("logwatch")
    unshare = require_private_mounts()
    root = tmp_path / "root"
    subprocess.run([sys.executable, os.path.join(ROOT, "dev.py"), "install", "--root", str(root)],
                   check=True, capture_output=True, timeout=600)
    make_mbox(str(tmp_path / "alice.mbox"), 3)
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    with rsyslogd(str(logdir)) as sock:
        server = make_server({"alice": {"password": "alice-pw", "maildrop": f"mbox:{tmp_path}/alice.mbox"}},
                             args=["-s"], extra={"logging": {"syslog_socket": sock}})
        listing = session(server.port, "alice", "alice-pw", "LIST")[0]
        sizes = [int(line.split()[1]) for line in listing.splitlines()]
        session(server.port, "alice", "alice-pw", "DELE 1")
        wait_for(str(logdir / "mail.log"), "Stats: alice", 2)
        server.stop()
    script = (f"mount --bind {root}/etc/logwatch /etc/logwatch && exec {logwatch} --service pop3d "
              f"--detail 10 --range All --output stdout --logdir {logdir} --hostformat none")
    report = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, TZ="UTC")).stdout
    assert "pop3d Begin" in report, report
    assert re.search(r"^ *sessions +2$", report, re.M), report
    assert re.search(rf"^ *bytes deleted +{sizes[0]}$", report, re.M), report
    row = next(line.split() for line in report.splitlines() if line.strip().startswith("alice "))
    assert row[:2] == ["alice", "2"], report
