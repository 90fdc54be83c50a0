"""The command line and configuration errors: one clear line, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import ROOT


def pop3d(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pop3d", *args], capture_output=True, text=True,
                          timeout=30, cwd=cwd or ROOT)


def write(path, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_help_lists_the_traditional_flags():
    out = pop3d("--help")
    assert out.returncode == 0
    for flag in ("-c FILE", "-T SECONDS", "-d", "-s", "-t FILE"):
        assert flag in out.stdout


def test_unknown_flag_is_refused_clearly():
    out = pop3d("-Z")
    assert out.returncode == 2
    assert "unrecognized arguments: -Z" in out.stderr or "-Z" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("users: [{type: virtual, file: u.yaml}]\ntimeout: ten\n", "timeout", "whole number"),
        ("users: [{type: virtual, file: u.yaml}]\ntimeout: 0\n", "timeout", "at least 1"),
        ("users: [{type: virtual, file: u.yaml}]\nmaildrop: imap:/x\n", "maildrop", "must start with"),
        ("users: [{type: nosuch}]\n", "users[0].type", "must be one of"),
        ("users: [{type: virtual, file: u.yaml}]\nlisten: [3]\n", "listen[0]", "non-empty string"),
        ("users: [{type: virtual, file: u.yaml}]\ntimout: 5\n", "timout", "unknown setting"),
        ("users: [{type: virtual, file: u.yaml}]\nlimits: {max_line: 10}\n", "limits.max_line",
         "at least 255"),
        ("users: [{type: virtual, file: u.yaml}]\nmbox_format: weird\n", "mbox_format", "one of"),
        ("listen: [tcp:1]\n", "users", "no source"),
        ("users: [\n", "line", "not valid YAML"),
        ("- just\n- a list\n", "(top level)", "must be a mapping"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path / "bad.yaml", text)
    write(tmp_path / "u.yaml", "{}\n")
    out = pop3d("-c", path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert path in lines[0] and key in lines[0] and problem in lines[0]


def test_missing_config_file(tmp_path):
    out = pop3d("-c", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2
    assert "nope.yaml" in out.stderr and "No such file" in out.stderr


def test_bad_users_file_is_named(tmp_path):
    path = write(tmp_path / "c.yaml",
                 "users: [{type: virtual, file: u.yaml}]\nlisten: ['tcp:0:interface=127.0.0.1']\n")
    write(tmp_path / "u.yaml", "carol: {password: secret}\n")
    out = pop3d("-c", path)
    assert out.returncode == 2
    assert "u.yaml" in out.stderr and "carol.password" in out.stderr


def test_bad_timeout_flag(tmp_path):
    out = pop3d("-T", "0", "-c", os.path.join(ROOT, "conf", "pop3d.yaml"))
    assert out.returncode == 2
    assert "-T" in out.stderr


def test_check_config_reports_ok_without_serving():
    config = os.path.join(ROOT, "conf", "pop3d.yaml")
    out = pop3d("-c", config, "--check-config")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (f"pop3d: {config}: configuration OK (listen: tcp:8110:interface=127.0.0.1; "
                          "1 source(s) of users; workers: 1)\n")


def test_check_config_finds_what_only_a_start_would_find(tmp_path):
    """A users file with a bad entry: the loader alone would not see it, the check does."""
    path = write(tmp_path / "c.yaml",
                 "users: [{type: virtual, file: u.yaml}]\nlisten: ['tcp:0:interface=127.0.0.1']\n")
    write(tmp_path / "u.yaml", "carol: {password: secret}\n")
    out = pop3d("-c", path, "--check-config")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "u.yaml" in out.stderr and "carol.password" in out.stderr
    write(tmp_path / "c.yaml", "users: [{type: virtual, file: u.yaml}]\ntls: {certificate: nope.pem}\n")
    out = pop3d("-c", path, "--check-config")
    assert out.returncode == 2 and "tls.certificate" in out.stderr


@pytest.mark.parametrize("check", [True, False], ids=["check-config", "start"])
@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("listen: ['tcp:0:interfce=127.0.0.1']\n", "listen[0]", "unknown option 'interfce'"),
        ("listen: ['tcp:port110']\n", "listen[0]", "is not a valid endpoint"),
        ("listen: ['tpc:110']\n", "listen[0]", "Unknown endpoint type: 'tpc'"),
        ("listen: ['haproxy:tcp:0:bogus=1']\n", "listen[0]", "unknown option 'bogus'"),
        ("run_as: {user: no-such-user-here}\n", "run_as.user", "no such user: no-such-user-here"),
        ("run_as: {user: root, group: no-such-group}\n", "run_as.group", "no such group: no-such-group"),
        ("run_as: {user: root, groups: [root, no-such-group]}\n", "run_as.groups[1]", "no such group"),
        ("mail_privileged_group: no-such-group\n", "mail_privileged_group", "no such group: no-such-group"),
        ("users: [{type: virtual, file: missing.yaml}]\n", "users[0].file",
         "missing.yaml: No such file or directory"),
        ("users: [{type: virtual, file: folder}]\n", "users[0].file", "folder: Is a directory"),
    ],
)
def test_what_a_start_would_fail_on_fails_the_check_with_one_line(tmp_path, check, text, key, problem):
    """An endpoint typo once passed --check-config and then died at start with a Twisted TypeError."""
    if "users:" not in text:
        text += "users: [{type: virtual, file: u.yaml}]\n"
    if "listen:" not in text:
        text += "listen: ['tcp:0:interface=127.0.0.1']\n"
    path = write(tmp_path / "c.yaml", text)
    write(tmp_path / "u.yaml", "{}\n")
    (tmp_path / "folder").mkdir()
    out = pop3d("-c", path, *(["--check-config"] if check else []))
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"pop3d: {path}: {key}: ") and problem in lines[0], lines[0]
