"""inetd over Debian's /var/mail: the user's process creates its lock and index files through the mail group.

The spool is laid out like Debian's (root:mail, mode 2775; mboxes USER:mail
0660); a real xinetd starts ``pop3d -i`` as root, which becomes the real
UNIX user who logs in.  Without ``mail_privileged_group`` that user could
not create the dotlock or pop3d's files beside the mbox.
"""

from __future__ import annotations

import grp
import os
import pwd

import pytest
import yaml
from support import HOST, Client, ServerFixture, free_port
from unix_kit import debian_spool, require_root, unix_account, xinetd

PASSWORD = "Var-mail pw 1!"


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
