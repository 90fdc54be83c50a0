"""A users file the server can no longer read once it has given up root: warned about, and avoided."""

from __future__ import annotations

import grp
import os
import subprocess
import sys

from support import Client, ServerFixture, free_port, write_config
from test_privileges import alice_spool
from unix_kit import require_root, unix_account

USERS = "users.yaml"


def login(client: Client, user: str, password: str) -> bytes:
    assert client.line().startswith(b"+OK")
    assert client.cmd(f"USER {user}").startswith(b"+OK")
    return client.cmd(f"PASS {password}")


def popauth(*args: str, secret: str) -> None:
    subprocess.run([sys.executable, "-m", "pop3d.popauth", *args], input=secret + "\n", text=True,
                   check=True, capture_output=True, timeout=60)


def answer(port: int, password: str) -> bytes:
    client = Client.connect(port)
    try:
        return login(client, "alice", password)
    finally:
        client.close()


def test_a_users_file_root_alone_can_read_is_warned_about_once_and_popauth_c_fixes_it():
    """popauth wrote 0600 root files; after giving up root the server silently kept the old passwords."""
    require_root()
    with unix_account() as account, alice_spool(account) as spool:
        port = free_port()
        config = write_config(spool, {"alice": {"password": "old-pw", "maildrop": f"maildir:{spool}/alice"}},
                              port, {"run_as": {"user": account, "group": account}})
        users = os.path.join(spool, USERS)
        os.chmod(users, 0o600)
        server = ServerFixture(spool, port, config).start()
        try:
            assert answer(port, "old-pw").startswith(b"+OK")
            popauth("-u", users, "virtual", "set", "alice", secret="new-pw")  # no config: root's 0600
            assert answer(port, "new-pw").startswith(b"-ERR [AUTH]")
            assert answer(port, "new-pw").startswith(b"-ERR [AUTH]")
            assert server.log().count(f"{users}: (file): Permission denied") == 1, server.log()
            popauth("-c", config, "-u", users, "virtual", "set", "alice", secret="newer-pw")
            st = os.stat(users)
            assert (st.st_mode & 0o777, st.st_gid) == (0o640, grp.getgrnam(account).gr_gid)
            assert answer(port, "newer-pw").startswith(b"+OK")
        finally:
            server.stop()
