"""XTND XMIT through a real MTA: Debian's Exim as the submission command.

test_xtnd_e2e.py checks what pop3d hands to a capture script; this test checks
that a real sendmail accepts it and delivers it as intended: the recipients come
from the headers (``-t``), the dot-stuffing is undone (and a lone "." inside the
message does not end it: ``-i``), the envelope sender is the POP3 user (``-f``),
and a message Exim refuses gives ``-ERR`` while the session goes on.

How Exim runs, with no daemon and nothing outside a test-owned directory:

* The command is ``exim4 -C CONF -odi -t -i`` (pop3d adds ``-falice@pop3d.test``,
  its ``xtnd.mail_domain``).  pop3d never runs it as root: the server (root, as
  in CI: ``require_root``) runs it as ``xtnd.run_as``, here Exim's own user
  Debian-exim.  Exim given ``-C`` by a caller that is neither root nor in
  TRUSTED_CONFIG_LIST gives up root and goes on as that caller, Debian-exim, which
  owns the spool, log and mailbox folders here -- and is who Debian's transport
  delivers as anyway.  ``-odi`` delivers before Exim exits, so ``+OK`` means
  delivered.  The Exim user is a trusted caller, so ``-f`` sets the envelope
  sender.
* Those folders must be reachable by Debian-exim, which pytest's tmp_path (under
  a 0700 /tmp/pytest-of-root) is not: like test_privileges.py, the test makes its
  own directory with mkdtemp, and removes it afterwards.
* The configuration has one router that accepts every address for one appendfile
  transport (an mbox file): no DNS, no lookups of remote hosts, no SMTP.
* The message's From: is not alice's address, so pop3d adds ``Sender:
  alice@pop3d.test``; Exim, for a trusted caller, adds none of its own.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest
from support import Client, require_tool
from unix_kit import require_root

#: The account Debian's exim4-base creates; Exim receives and delivers as it here.
EXIM_USER = "Debian-exim"
QUALIFY_DOMAIN = "pop3d.test"
SENDER = f"alice@{QUALIFY_DOMAIN}"

T = TypeVar("T")

EXIM_CONF = """\
primary_hostname = {domain}
qualify_domain = {domain}
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
pid_file_path = {root}/exim.pid
keep_environment =
tls_advertise_hosts =

begin routers

everything:
  driver = accept
  transport = to_mbox

begin transports

to_mbox:
  driver = appendfile
  file = {root}/mail/mbox
  user = {user}
  return_path_add
  envelope_to_add
"""


@dataclass
class Exim:
    """A private Exim setup: its configuration, spool, logs and the mbox it delivers to."""

    root: str
    config: str
    binary: str

    @property
    def mbox(self) -> str:
        return os.path.join(self.root, "mail", "mbox")

    def submit(self, *options: str) -> list[str]:
        return [self.binary, "-C", self.config, "-odi", *options, "-t", "-i"]

    def delivered(self) -> list[mailbox.mboxMessage]:
        if not os.path.exists(self.mbox):
            return []
        box = mailbox.mbox(self.mbox, create=False)
        try:
            return list(box)
        finally:
            box.close()

    def mainlog(self) -> str:
        with contextlib.suppress(FileNotFoundError), open(os.path.join(self.root, "log", "mainlog")) as f:
            return f.read()
        return ""


def exim_processes(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (our private config)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
            if marker.encode() in f.read():
                pids.append(int(entry))
    return pids


@pytest.fixture
def exim() -> Iterator[Exim]:
    binary = require_tool("exim4")
    require_root()
    user = pwd.getpwnam(EXIM_USER)
    root = tempfile.mkdtemp(prefix="p3t-exim-")
    config = os.path.join(root, "exim.conf")
    try:
        os.chmod(root, 0o755)  # root-owned; Debian-exim may enter it and read the config
        for sub in ("spool", "log", "mail"):
            os.mkdir(os.path.join(root, sub), 0o750)
            os.chown(os.path.join(root, sub), user.pw_uid, user.pw_gid)
        with open(config, "w") as f:  # owned by root, not writable by others: Exim checks
            f.write(EXIM_CONF.format(domain=QUALIFY_DOMAIN, root=root, user=EXIM_USER))
        yield Exim(root, config, binary)
        # -odi delivers before exiting, but an error report is a separate Exim: let it finish.
        deadline = time.monotonic() + 10
        while (left := exim_processes(config)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"Exim processes still running: {left}"
    finally:
        for pid in exim_processes(config):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def start(make_server, tmp_path, submit: list[str]) -> Client:
    os.makedirs(tmp_path / "alice" / "new")
    (tmp_path / "alice" / "new" / "1700000000.M1P1.test").write_bytes(b"Subject: waiting\n\nbody\n")
    for sub in ("cur", "tmp"):
        os.makedirs(tmp_path / "alice" / sub)
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    server = make_server(users, {"xtnd": {"enabled": True, "submit": submit, "run_as": EXIM_USER,
                                          "mail_domain": QUALIFY_DOMAIN}})
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 message")
    return c


def xmit(c: Client, lines: list[bytes]) -> bytes:
    """Send a message already dot-stuffed, as a POP3 client must."""
    assert c.cmd("XTND XMIT").startswith(b"+OK")
    c.send(b"".join(line + b"\r\n" for line in lines) + b".\r\n")
    return c.line()


def wait_for(condition: Callable[[], T], seconds: float = 10.0) -> T:
    deadline = time.monotonic() + seconds
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_xmit_is_delivered_by_exim(make_server, tmp_path, exim: Exim) -> None:
    c = start(make_server, tmp_path, exim.submit())
    reply = xmit(c, [
        b"From: Alice <alice@example.org>",
        b"To: bob@example.org, Carol <carol@example.net>",
        b"Cc: dave@example.com",
        b"Bcc: erin@example.org",
        b"Subject: through a real MTA",
        b"",
        b"first line",
        b"..leading dot",
        b"..",
        b"after a lone dot (-i: not the end)",
        b"RETR 1",
    ])
    assert reply == b"+OK message submitted"

    messages = exim.delivered()  # -odi: delivered by the time Exim exited
    recipients = {"bob@example.org", "carol@example.net", "dave@example.com", "erin@example.org"}
    assert sorted(m["Envelope-to"] for m in messages) == sorted(recipients)
    for m in messages:
        # The envelope sender is the POP3 user, taken from -falice@pop3d.test (the Exim
        # user is trusted); the Sender: header is pop3d's, as From: is someone else.
        assert m["Return-path"] == f"<{SENDER}>"
        assert m.get_from().split()[0] == SENDER  # the mbox "From " line
        assert f"(envelope-from <{SENDER}>)" in " ".join(m["Received"].split())
        assert m["Sender"] == SENDER
        assert m["From"] == "Alice <alice@example.org>"
        assert m["To"] == "bob@example.org, Carol <carol@example.net>"
        assert m["Cc"] == "dave@example.com"
        assert m["Bcc"] is None  # -t: a recipient, then removed
        assert m["Subject"] == "through a real MTA"
        assert m.get_payload() == ("first line\n.leading dot\n.\nafter a lone dot (-i: not the end)\n"
                                   "RETR 1\n")
    assert f"<= {SENDER} U={EXIM_USER} P=local" in exim.mainlog()  # not U=root
    assert c.cmd("STAT").startswith(b"+OK 1 ")  # the session goes on


def test_exim_refusal_gives_err_and_the_session_goes_on(make_server, tmp_path, exim: Exim) -> None:
    # -t and no recipient header: Exim refuses the message and exits with status 1, and says
    # on stderr the last thing it printed there (run as its own user with -C: that it gave up
    # root); pop3d passes that line on.  The reason is in its main log.
    c = start(make_server, tmp_path, exim.submit())
    reply = xmit(c, [b"Subject: nobody to send to", b"", b"hello"])
    assert reply.startswith(b"-ERR message not sent: submission command exited with status 1: ")
    assert c.cmd("STAT").startswith(b"+OK 1 ")  # the session goes on
    assert c.cmd("NOOP") == b"+OK"
    assert "no recipients found in headers" in exim.mainlog()
    # Exim's default error mode for a command-line submission (-oem) mails the error to
    # the sender as well: the only delivery is that report, to alice, from <>.
    reports = wait_for(exim.delivered)
    assert [m["Envelope-to"] for m in reports] == [SENDER]
    assert reports[0]["Return-path"] == "<>"
    assert reports[0]["From"] == f"Mail Delivery System <Mailer-Daemon@{QUALIFY_DOMAIN}>"
    assert reports[0]["To"] == SENDER
    assert reports[0]["Subject"] == "Mail failure - no recipient addresses"
    assert "contained no recipient addresses" in reports[0].get_payload()
