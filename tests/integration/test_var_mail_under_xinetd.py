"""inetd over Debian's /var/mail: the user's process creates its lock and index files through the mail group.

The spool is laid out like Debian's (root:mail, mode 2775; mboxes USER:mail
0660); a real xinetd starts ``pop3d -i`` as root, which becomes the real
UNIX user who logs in.  Without ``mail_privileged_group`` that user could
not create the dotlock or pop3d's files beside the mbox.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import yaml
from maildrop_builders import make_mbox
from support import HOST, ROOT, Client, ServerFixture, free_port, require_tool
from unix_kit import require_root, unix_account

PASSWORD = "Var-mail pw 1!"


@contextlib.contextmanager
def debian_spool(user: str, mode: int = 0o2775) -> Iterator[str]:
    """A /var/mail look-alike (root:mail 2775) holding ``user``'s mbox (user:mail 0660)."""
    spool = tempfile.mkdtemp(prefix="p3t-var-mail-")
    mail = grp.getgrnam("mail").gr_gid
    try:
        os.chown(spool, 0, mail)
        os.chmod(spool, mode)
        path = os.path.join(spool, user)
        make_mbox(path, 4)
        os.chown(path, pwd.getpwnam(user).pw_uid, mail)
        os.chmod(path, 0o660)
        yield spool
    finally:
        subprocess.run(["rm", "-rf", spool], check=False)


@contextlib.contextmanager
def xinetd(workdir: str, config: str) -> Iterator[int]:
    binary = require_tool("xinetd")
    port = free_port()
    conf = os.path.join(workdir, "xinetd.conf")
    with open(conf, "w") as f:
        f.write(f"""defaults
{{
    log_type = FILE {workdir}/xinetd.log
}}
service pop3d-var-mail
{{
    type        = UNLISTED
    port        = {port}
    bind        = {HOST}
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = root
    server      = {os.path.join(os.path.dirname(sys.executable), "pop3d")}
    server_args = -i -c {config}
    env         = PYTHONPATH={ROOT}
}}
""")
    pid_file = os.path.join(workdir, "xinetd.pid")
    proc = subprocess.Popen([binary, "-dontfork", "-f", conf, "-pidfile", pid_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                Client.connect(port).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def write_config(workdir: str, spool: str, extra: dict[str, object]) -> str:
    path = os.path.join(workdir, "pop3d.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"hostname": "pop3d.test", "users": [{"type": "unix"}], "maildrop": f"mbox:{spool}/%u",
                        "state_dir": os.path.join(workdir, "state"), "logging": {
                            "syslog_socket": os.path.join(workdir, "no-syslog"),
                            "fallback_file": os.path.join(workdir, "pop3d.log")},
                        "auth": {"trusted_networks": ["127.0.0.0/8"]}, **extra}, f)
    return path


def session(port: int, name: str) -> bytes:
    client = Client.connect(port)
    try:
        assert client.line().startswith(b"+OK")
        assert client.cmd(f"USER {name}").startswith(b"+OK")
        answer = client.cmd(f"PASS {PASSWORD}")
        if answer.startswith(b"+OK"):
            assert client.cmd("DELE 1").startswith(b"+OK")
            assert client.cmd("QUIT").startswith(b"+OK")
        return answer
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [0o2775, 0o3775], ids=["2775", "2775-sticky"])
@pytest.mark.parametrize("setting", [{}, {"mail_privileged_group": "mail"}], ids=["default", "named"])
def test_an_inetd_session_as_the_user_works_in_a_debian_var_mail(tmp_path, setting, mode):
    """It answered -ERR [SYS/TEMP] maildrop is unavailable: the user may not create files in /var/mail.

    Then a standalone server as run_as mail and inetd again use the same files: no launch mode
    locks out another.
    """
    require_root()
    os.chmod(tmp_path, 0o755)
    with unix_account(PASSWORD) as name, debian_spool(name, mode) as spool:
        config = write_config(str(tmp_path), spool, setting)
        with xinetd(str(tmp_path), config) as port:
            assert session(port, name).startswith(b"+OK"), (tmp_path / "pop3d.log").read_text()
        mail, uid = grp.getgrnam("mail").gr_gid, pwd.getpwnam(name).pw_uid
        for sidecar in (f".{name}.pop3d-lock", f".{name}.pop3d-index"):
            st = os.stat(os.path.join(spool, sidecar))
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, mail, 0o660), sidecar
        assert not os.path.exists(os.path.join(spool, f"{name}.lock"))  # the dotlock was removed
        port = free_port()
        standalone = write_config(str(tmp_path), spool, {
            **setting, "listen": [f"tcp:{port}:interface={HOST}"],
            "run_as": {"user": "mail", "group": "mail", "groups": ["shadow"]}})
        server = ServerFixture(str(tmp_path), port, standalone).start()
        try:
            assert session(port, name).startswith(b"+OK"), server.log()
        finally:
            server.stop()
        config = write_config(str(tmp_path), spool, setting)
        with xinetd(str(tmp_path), config) as port:
            assert session(port, name).startswith(b"+OK"), (tmp_path / "pop3d.log").read_text()
        with open(os.path.join(spool, name), "rb") as f:
            left = f.read()
        assert b"Subject: message 2" not in left and b"Subject: message 3" in left


@pytest.mark.slow
def test_without_the_privileged_group_the_refusal_names_the_file(tmp_path):
    require_root()
    os.chmod(tmp_path, 0o755)
    with unix_account(PASSWORD) as name, debian_spool(name) as spool:
        config = write_config(str(tmp_path), spool, {"mail_privileged_group": "none"})
        with xinetd(str(tmp_path), config) as port:
            assert session(port, name).startswith(b"-ERR [SYS/TEMP]")
        log = (tmp_path / "pop3d.log").read_text()
        assert f"{spool}/.{name}.pop3d-lock" in log or f"{spool}/{name}.lock" in log, log
