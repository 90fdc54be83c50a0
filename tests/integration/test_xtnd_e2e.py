"""XTND XLIST and XMIT over real sockets, with a capture script as the submission command."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from support import Client

CAPTURE = """\
#!{python}
import json, sys
data = sys.stdin.buffer.read()
with open({out!r}, "w") as f:
    json.dump({{"argv": sys.argv[1:], "stdin": data.decode("latin-1")}}, f)
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


def capture_script(tmp_path, fail: int = 0) -> tuple[str, str]:
    out = str(tmp_path / f"captured-{fail}.json")
    script = tmp_path / f"sendmail-{fail}"
    script.write_text(CAPTURE.format(python=os.path.realpath(sys.executable), out=out, fail=fail))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), out


def start(make_server, tmp_path, submit: list[str], max_message: int = 4096) -> Client:
    write_maildir(str(tmp_path / "alice"))
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    server = make_server(users, {"xtnd": {"enabled": True, "submit": submit, "max_message": max_message}})
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
    reply = xmit(c, [b"To: bob@example.org", b"Subject: hi", b"", b"..a dotted line", b"RETR 1", b"end"])
    assert reply == b"+OK message submitted"
    with open(out) as f:
        captured = json.load(f)
    assert captured["argv"] == ["-t", "-i", "-falice"]
    assert captured["stdin"] == "To: bob@example.org\nSubject: hi\n\n.a dotted line\nRETR 1\nend\n"
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
