"""Errors an admin must see: in mail.log without -s, in the fallback file under inetd without syslog."""

from __future__ import annotations

import os

from daemons import login, rsyslogd
from maildrop_builders import make_mbox
from support import Client, ServerFixture, free_port, inetd_process, write_config


def broken_alice(tmp_path) -> dict[str, dict[str, str]]:
    """alice's maildrop sits in a folder that does not exist: her login fails with a logged warning."""
    return {"alice": {"password": "alice-pw", "maildrop": f"mbox:{tmp_path}/no-such-folder/alice.mbox"}}


def test_without_dash_s_a_maildrop_error_still_reaches_mail_log(tmp_path):
    with rsyslogd(str(tmp_path)) as syslog:
        port = free_port()
        config = write_config(str(tmp_path), broken_alice(tmp_path), port,
                              {"logging": {"syslog_socket": syslog.socket_path}})
        server = ServerFixture(str(tmp_path), port, config).start()
        try:
            client = Client.connect(port)
            assert login(client, "alice", "alice-pw").startswith(b"-ERR [SYS/TEMP]")
            client.close()
            log = syslog.wait_for("maildrop unavailable")
        finally:
            server.stop()
    assert "no-such-folder" in log, log  # the path, not just "cannot open lock file"


def test_under_inetd_without_syslog_errors_go_to_the_fallback_file(tmp_path):
    """stderr is the client's socket under inetd; with no syslog the error used to be lost."""
    fallback = tmp_path / "pop3d-fallback.log"
    config = write_config(str(tmp_path), broken_alice(tmp_path), free_port(), {"logging": {
        "syslog_socket": str(tmp_path / "no-syslog-here"), "fallback_file": str(fallback)}})
    with inetd_process(["-i", "-c", config], str(tmp_path)) as (client, proc):
        assert login(client, "alice", "alice-pw").startswith(b"-ERR [SYS/TEMP]")
        assert client.cmd("QUIT").startswith(b"+OK")
        assert client.closed()
        assert b"maildrop unavailable" not in client.buf
        assert proc.wait(15) == 0
    text = fallback.read_text()
    # As root, a virtual user is refused before its folder is looked at (never served as root).
    reason = "set run_as" if os.geteuid() == 0 else "no-such-folder"
    assert "syslog is unavailable" in text and "maildrop unavailable" in text and reason in text, text


def test_no_starting_factory_chatter_on_the_console(tmp_path):
    make_mbox(str(tmp_path / "alice.mbox"), 1)
    port = free_port()
    config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                    "maildrop": f"mbox:{tmp_path}/alice.mbox"}}, port)
    server = ServerFixture(str(tmp_path), port, config).start()
    server.stop()
    log = server.log()
    assert "listening on tcp:" in log
    assert "Starting factory" not in log and "starting on" not in log, log
