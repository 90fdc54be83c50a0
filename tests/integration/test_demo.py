"""The embedded default (conf/ + maildrops/) works at once, and again next time."""

from __future__ import annotations

import hashlib
import os
import shutil

import yaml
from support import ROOT, Client, ServerFixture, free_port


def demo_copy(tmp_path) -> tuple[str, int]:
    """The repo's conf/ and maildrops/ as they are, on a free port."""
    shutil.copytree(os.path.join(ROOT, "conf"), tmp_path / "conf")
    shutil.copytree(os.path.join(ROOT, "maildrops"), tmp_path / "maildrops")
    path = tmp_path / "conf" / "pop3d.yaml"
    config = yaml.safe_load(path.read_text())
    assert config["listen"] == ["tcp:8110:interface=127.0.0.1"]  # what the README promises
    port = free_port()
    config["listen"] = [f"tcp:{port}:interface=127.0.0.1"]
    path.write_text(yaml.safe_dump(config))
    return str(path), port


def telnet_session(port: int, user: str, password: str) -> list[bytes]:
    c = Client.connect(port)
    assert c.line().startswith(b"+OK pop3d")
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    assert c.cmd(f"PASS {password}").startswith(b"+OK")
    stat = c.cmd("STAT").split()
    count = int(stat[1])
    bodies = []
    for i in range(1, count + 1):
        assert c.cmd(f"RETR {i}").startswith(b"+OK")
        bodies.append(b"\n".join(c.multiline()))
        assert c.cmd(f"DELE {i}").startswith(b"+OK")
    assert c.cmd("QUIT").startswith(b"+OK pop3d at localhost signing off")
    return bodies


def test_demo_serves_both_users_and_comes_back(tmp_path):
    config, port = demo_copy(tmp_path)
    for _run in range(2):
        server = ServerFixture(str(tmp_path), port, config).start()
        try:
            bob = telnet_session(port, "bob", "bob-demo")
            alice = telnet_session(port, "alice", "alice-demo")
        finally:
            server.stop()
        assert len(bob) == 3 and len(alice) == 2
        assert b"\n>From here on" not in bob[0] and b"\nFrom here on" in bob[0]
        assert b"\n..like this one" in alice[0]  # dot-stuffed on the wire
    # The pristine demo maildrops were never touched.
    assert sorted(os.listdir(tmp_path / "maildrops" / "alice" / "new")) == \
        sorted(os.listdir(os.path.join(ROOT, "maildrops", "alice", "new")))


#: Commands whose +OK answer has more lines (LIST and UIDL only without an argument).
MULTILINE = {"CAPA", "RETR", "TOP", "XTND"}


def readme_session() -> list[str]:
    """The README's telnet transcript, from the greeting to the sign-off."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.index("```\n$ telnet localhost 8110")
    lines = text[start:text.index("```", start + 3)].splitlines()
    first = lines.index("Escape character is '^]'.") + 1
    return lines[first:lines.index("Connection closed by foreign host.")]


def test_the_readme_session_is_what_the_demo_answers(tmp_path):
    """APOP once answered -ERR [AUTH] in the demo and XTND was an unknown command, unlike the README."""
    config, port = demo_copy(tmp_path)
    transcript = readme_session()
    server = ServerFixture(str(tmp_path), port, config).start()
    try:
        c = Client.connect(port)
        greeting = c.line().decode()
        assert greeting.split("<")[0] == transcript[0].split("<")[0]
        stamp = greeting[greeting.index("<"):]
        i = 1
        while i < len(transcript):
            command = transcript[i]
            if command.startswith("APOP "):
                name = command.split()[1]
                command = f"APOP {name} {hashlib.md5((stamp + name + '-apop').encode()).hexdigest()}"
            answer = [c.cmd(command).decode()]
            verb, *args = command.split()
            if answer[0].startswith("+OK") and (verb in MULTILINE or verb in ("LIST", "UIDL") and not args):
                answer += [line.decode() for line in c.multiline()] + ["."]
            assert answer == transcript[i + 1:i + 1 + len(answer)], command
            i += 1 + len(answer)
        assert transcript[-1].startswith("+OK pop3d at localhost signing off")
    finally:
        server.stop()
