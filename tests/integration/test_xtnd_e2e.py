"""XTND XLIST and XMIT over real sockets, with a capture script as the submission command.

The script records its arguments, its standard input and the uid it ran as.
A root server runs it as ``xtnd.run_as`` (nobody) for these virtual users, so
it lives in a folder of its own that nobody may enter and write to.
"""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import shutil
import sys
import tempfile
from collections.abc import Iterator

import pytest
from support import Client
from unix_kit import chown_tree, unix_account

CAPTURE = """\
#!{python}
import json, os, sys
data = sys.stdin.buffer.read()
with open({out!r}, "w") as f:
    json.dump({{"argv": sys.argv[1:], "stdin": data.decode("latin-1"), "uid": os.geteuid()}}, f)
if {fail!r}:
    sys.stderr.write("550 5.7.1 sender refused\\n")
    sys.exit({fail!r})
"""

MESSAGES = [
    b"From: a@example.org\nSubject: plain one\n\nbody\n",
    b"Subject: folded\n\tsecond part\nFrom: b@example.org\n\nbody\n",
    b"From: c@example.org\n\nno subject here\nSubject: in the body\n",
    b"SUBJECT : odd spacing\r\n\r\nbody\r\n",
]


def write_maildir(path: str) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, m in enumerate(MESSAGES):
        with open(os.path.join(path, "new", f"{1700000000 + i}.M{i}P1.test"), "wb") as f:
            f.write(m)


#: Who a root server runs the submission command as for virtual users here.
SUBMIT_USER = "nobody"
DOMAIN = "mail.example"
#: An interpreter any user may run (the test's own may live under root's home).
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)


@pytest.fixture
def tmp_path() -> Iterator[pathlib.Path]:
    """A folder the submission command can use whoever it runs as (pytest's is root's, 0700)."""
    path = tempfile.mkdtemp(prefix="p3t-xmit-")
    os.chmod(path, 0o1777)
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def capture_script(tmp_path, fail: int = 0) -> tuple[str, str]:
    out = str(tmp_path / f"captured-{fail}.json")
    script = tmp_path / f"sendmail-{fail}"
    script.write_text(CAPTURE.format(python=SYSTEM_PYTHON, out=out, fail=fail))
    script.chmod(0o755)
    return str(script), out


def captured(out: str) -> dict:
    with open(out) as f:
        return json.load(f)


def start(make_server, tmp_path, submit: list[str], max_message: int = 4096, **xtnd: object) -> Client:
    write_maildir(str(tmp_path / "alice"))
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    settings = {"enabled": True, "submit": submit, "max_message": max_message, "run_as": SUBMIT_USER,
                "mail_domain": DOMAIN, **xtnd}
    server = make_server(users, {"xtnd": {k: v for k, v in settings.items() if v is not None}})
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 4 messages")
    return c


def test_xlist_headers_unfolded_missing_ones_numbered(make_server, tmp_path):
    c = start(make_server, tmp_path, ["/bin/true"])
    assert c.cmd("CAPA").startswith(b"+OK") and b"XTND" in c.multiline()
    assert c.cmd("XTND XLIST subject") == b"+OK subject header list follows"
    assert c.multiline() == [b"1 Subject: plain one", b"2 Subject: folded\tsecond part", b"3",
                             b"4 SUBJECT : odd spacing"]
    assert c.cmd("DELE 1").startswith(b"+OK")
    assert c.cmd("XTND XLIST From") == b"+OK From header list follows"
    assert c.multiline() == [b"2 From: b@example.org", b"3 From: c@example.org", b"4"]
    assert c.cmd("XTND XLIST From 3") == b"+OK From header list follows"
    assert c.multiline() == [b"3 From: c@example.org"]
    assert c.cmd("XTND XLIST From 1") == b"-ERR message 1 already deleted"
    assert c.cmd("STAT").startswith(b"+OK 3 ")


def xmit(c: Client, lines: list[bytes]) -> bytes:
    assert c.cmd("XTND XMIT").startswith(b"+OK")
    c.send(b"".join(line + b"\r\n" for line in lines) + b".\r\n")
    return c.line()


def test_xmit_hands_the_message_to_the_submission_command(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script, "-t", "-i"])
    reply = xmit(c, [b"From: alice@mail.example", b"To: bob@example.org", b"Subject: hi", b"",
                     b"..a dotted line", b"RETR 1", b"end"])
    assert reply == b"+OK message submitted"
    assert captured(out)["argv"] == ["-t", "-i", "-falice@mail.example"]
    assert captured(out)["stdin"] == ("From: alice@mail.example\nTo: bob@example.org\nSubject: hi\n\n"
                                      ".a dotted line\nRETR 1\nend\n")
    assert c.cmd("STAT").startswith(b"+OK 4 ")  # the session goes on


def test_xmit_failure_reports_the_reason_and_the_session_goes_on(make_server, tmp_path):
    script, _ = capture_script(tmp_path, fail=75)
    c = start(make_server, tmp_path, [script, "-t", "-i"])
    reply = xmit(c, [b"To: bob@example.org", b"", b"hello"])
    assert reply == (b"-ERR [SYS/TEMP] message not sent: submission command exited with status 75: "
                     b"550 5.7.1 sender refused")
    assert c.cmd("NOOP") == b"+OK"


def test_missing_sendmail(make_server, tmp_path):
    c = start(make_server, tmp_path, [str(tmp_path / "no-such-sendmail"), "-t", "-i"])
    reply = xmit(c, [b"To: bob@example.org", b"", b"hello"])
    assert reply == (b"-ERR [SYS/PERM] mail submission is unavailable: "
                     + str(tmp_path / "no-such-sendmail").encode() + b" not found")
    assert c.cmd("NOOP") == b"+OK"


@pytest.mark.parametrize("size", [5000, 200_000])
def test_xmit_over_the_size_limit_is_discarded(make_server, tmp_path, size):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script], max_message=4096)
    body = [b"x" * 99] * (size // 101)
    reply = xmit(c, [b"To: bob@example.org", b""] + body)
    assert reply == b"-ERR message exceeds 4096 octets; discarded"
    assert not os.path.exists(out)
    assert c.cmd("STAT").startswith(b"+OK 4 ")


def test_xmit_line_over_the_line_limit_keeps_the_framing(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script], max_message=1_000_000)
    reply = xmit(c, [b"To: bob@example.org", b"", b"y" * 70_000, b"DELE 1"])
    assert reply == b"-ERR message has a line over the length limit; discarded"
    assert not os.path.exists(out)
    assert c.cmd("STAT").startswith(b"+OK 4 ")  # DELE 1 was message data, not a command


def test_xmit_never_runs_the_submission_command_as_root(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script])
    assert xmit(c, [b"To: bob@example.org", b"", b"hello"]) == b"+OK message submitted"
    expected = pwd.getpwnam(SUBMIT_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert captured(out)["uid"] == expected != 0


def test_xmit_refused_when_root_has_no_unprivileged_user_to_submit_as(make_server, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only a root server has to choose whom to run the command as")
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script], run_as=None)
    assert xmit(c, [b"To: bob@example.org", b"", b"hello"]) == (
        b"-ERR [SYS/PERM] XTND XMIT is unavailable: no unprivileged user to submit as (set xtnd.run_as)")
    assert not os.path.exists(out)
    assert c.cmd("NOOP") == b"+OK"


def test_xmit_forged_from_gets_sender_and_forged_sender_is_dropped(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script, "-t", "-i"])
    reply = xmit(c, [b"From: Bank <security@bank.example>", b"Sender: security@bank.example",
                     b"To: victim@example.org", b"", b"Please log in"])
    assert reply == b"+OK message submitted"
    assert captured(out)["argv"][-1] == "-falice@mail.example"
    assert captured(out)["stdin"] == ("From: Bank <security@bank.example>\nTo: victim@example.org\n"
                                      "Sender: alice@mail.example\n\nPlease log in\n")


def test_xmit_forged_from_refused_with_from_policy_enforce(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script, "-t", "-i"], from_policy="enforce")
    reply = xmit(c, [b"From: security@bank.example", b"To: victim@example.org", b"", b"Please log in"])
    assert reply == b"-ERR From: must be your address alice@mail.example; discarded"
    assert not os.path.exists(out)
    assert xmit(c, [b"From: Alice <alice@mail.example>", b"To: bob@example.org", b"", b"hi"]) == \
        b"+OK message submitted"


def test_xmit_spam_run_hits_the_recipient_cap(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script, "-t", "-i"], max_recipients=5)
    to = b", ".join(b"v%d@example.org" % i for i in range(6))
    reply = xmit(c, [b"To: " + to, b"", b"buy now"])
    assert reply == b"-ERR too many recipients (6); at most 5 per message; discarded"
    assert not os.path.exists(out)


def test_xmit_spam_run_hits_the_per_user_rate_limit(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    c = start(make_server, tmp_path, [script, "-t", "-i"], max_messages=3, rate_window=3600)
    for _ in range(3):
        assert xmit(c, [b"To: v@example.org", b"", b"buy now"]) == b"+OK message submitted"
    os.unlink(out)
    reply = xmit(c, [b"To: v@example.org", b"", b"buy now"])
    assert reply.startswith(b"-ERR [SYS/TEMP] too many messages: at most 3 per 3600 s; try again in ")
    assert reply.endswith(b" s; message not sent")
    assert not os.path.exists(out)
    # The limit is the user's, not the connection's.
    port = c.sock.getpeername()[1]
    assert c.cmd("QUIT").startswith(b"+OK")
    c = Client.connect(port)
    c.line()
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK")
    assert xmit(c, [b"To: v@example.org", b"", b"buy now"]).startswith(b"-ERR [SYS/TEMP] too many messages")


def test_xmit_for_a_unix_user_runs_as_that_user_not_root(make_server, tmp_path):
    script, out = capture_script(tmp_path)
    with unix_account("Unix pw 1!") as name:
        home = os.path.expanduser(f"~{name}")
        write_maildir(os.path.join(home, "Maildir"))
        chown_tree(home, name)
        server = make_server({}, {"users": [{"type": "unix", "maildrop": "maildir:~/Maildir"}],
                                  "xtnd": {"enabled": True, "submit": [script], "run_as": SUBMIT_USER,
                                           "mail_domain": DOMAIN}})
        c = Client.connect(server.port)
        c.line()
        c.cmd(f"USER {name}")
        assert c.cmd("PASS Unix pw 1!").startswith(b"+OK")
        assert xmit(c, [b"To: bob@example.org", b"", b"hello"]) == b"+OK message submitted"
        assert captured(out)["uid"] == pwd.getpwnam(name).pw_uid  # the user, not root nor run_as
        assert captured(out)["argv"] == [f"-f{name}@{DOMAIN}"]
        c.cmd("QUIT")
