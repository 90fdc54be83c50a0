"""pop3d-stats over a rotated set of mail.logs: plain, ``.1``, ``.gz``, across New Year, with junk."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import report_kit as kit

from pop3d.report.cli import main

CET = timezone(timedelta(hours=1))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Year-less syslog time stamps are local time: make local time UTC for exact intervals."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def write_log(path, lines: list[str | bytes], mtime: datetime, compress: bool = False) -> str:
    data = b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return str(path)


def alice_poll(when: datetime) -> list[str]:
    """alice's mail client at 192.0.2.7 fetches and deletes one 1000-byte message."""
    t = kit.traditional
    return [t(when, kit.login("alice", "laptop.example")),
            t(when + timedelta(seconds=2), kit.stats("alice", 1, 1000, 0, 0, "laptop.example", "192.0.2.7"))]


@pytest.fixture
def logs(tmp_path) -> list[str]:
    """mail.log.2.gz (31 Dec), mail.log.1 (over midnight), mail.log (1 Jan, RFC 3339 stamps, -d lines)."""
    t = kit.traditional
    oldest = []
    for n in range(12):  # 22:00 ... 23:50
        when = datetime(2024, 12, 31, 22, 0) + timedelta(minutes=10 * n)
        oldest += alice_poll(when)
        oldest.append(t(when, "connect from unknown[203.0.113.5]", ident="postfix/smtpd", pid=900))
    rotated = []
    for n in range(4):  # 00:00 ... 00:30 on 1 January
        rotated += alice_poll(datetime(2025, 1, 1, 0, 0) + timedelta(minutes=10 * n))
    for n in range(3):
        bad = kit.failed("bob", "198.51.100.9", "198.51.100.9")
        rotated.append(t(datetime(2024, 12, 31, 23, 58, 5 * n), bad))
    for when in (datetime(2024, 12, 31, 23, 57), datetime(2025, 1, 1, 0, 2), datetime(2025, 1, 1, 0, 7)):
        rotated.append(t(when, kit.stats("mon", host="localhost", ip="127.0.0.1", monitor=True)))
    rotated += ["garbage line",
                t(datetime(2024, 12, 31, 23, 59), "Stats: broken"),
                t(datetime(2024, 12, 31, 23, 59), "pop3d 0.1.0: configuration reloaded")]
    r = kit.rfc3339
    nine = datetime(2025, 1, 1, 9, 0, tzinfo=CET)
    current: list[str | bytes] = [
        r(nine, kit.login("carol", "203.0.113.20", "203.0.113.20")),
        r(nine, kit.debug_login("4242-50", "carol")),
        r(nine, kit.debug_sent("4242-50", 1)),
        r(nine, kit.debug_sent("4242-50", 2)),
        r(nine, kit.debug_sent("4242-50", 2)),  # fetched twice: one message downloaded
        r(nine, kit.debug_sent("4242-50", 3, body_lines=0)),  # TOP: not a download
        r(nine, kit.stats("carol", 2, 5000, 1, 700, "203.0.113.20", "203.0.113.20")),
        r(nine + timedelta(minutes=30), kit.login("carol", "203.0.113.20", "203.0.113.20")),
        r(nine + timedelta(minutes=30), kit.debug_login("4242-51", "carol", "APOP")),
        r(nine + timedelta(minutes=30), kit.debug_sent("4242-51", 1)),
        r(nine + timedelta(minutes=30), kit.stats("carol", 1, 300, 0, 0, "203.0.113.20", "203.0.113.20")),
        r(nine + timedelta(hours=1), kit.refused("bob", "IN-USE", "maildrop locked", "198.51.100.9",
                                                 "198.51.100.9")),
        r(nine + timedelta(minutes=61), kit.stats("bob", 0, 0, 4, 8000, "198.51.100.9", "198.51.100.9")),
        r(nine + timedelta(minutes=65),
          kit.stats("alice", 0, 0, 0, 0, "laptop.example", "192.0.2.7", poll=True)),
        r(nine + timedelta(minutes=66), "imap-login: Login: user=<alice>", ident="dovecot", pid=77),
        b"\xff\xfe\x00 not text at all",
    ]
    return [write_log(tmp_path / "mail.log", current, datetime(2025, 1, 2, 6, 25)),
            write_log(tmp_path / "mail.log.1", rotated, datetime(2025, 1, 1, 0, 31)),
            write_log(tmp_path / "mail.log.2.gz", oldest, datetime(2024, 12, 31, 23, 55), compress=True)]


def report(capsys, *argv: str) -> tuple[int, dict]:
    status = main(["--json", *argv])
    return status, json.loads(capsys.readouterr().out)


def test_counts_across_rotated_gzipped_and_current_logs(capsys, logs):
    status, r = report(capsys, *logs)
    assert status == 0
    assert r["totals"] == {
        "sessions": 20, "logins": 18, "early_polls": 1, "failed_logins": 3, "refused_logins": 1,
        "retrieved_messages": 3, "deleted_messages": 19, "deleted_bytes": 21300,
        "users": 3, "addresses": 3, "monitor_sessions": 3,
    }
    users = {u["user"]: u for u in r["users"]}
    assert [u["user"] for u in r["users"]] == ["alice", "carol", "bob"]  # most sessions first
    assert users["alice"] == {"user": "alice", "sessions": 17, "early_polls": 1, "failed_logins": 0,
                              "refused_logins": 0, "retrieved_messages": 0, "deleted_messages": 16,
                              "deleted_bytes": 16000, "left_messages": 0, "left_bytes": 0}
    assert users["bob"] == {"user": "bob", "sessions": 1, "early_polls": 0, "failed_logins": 3,
                            "refused_logins": 1, "retrieved_messages": 0, "deleted_messages": 0,
                            "deleted_bytes": 0, "left_messages": 4, "left_bytes": 8000}
    # Left: the maildrop after carol's latest session, not her first.
    assert (users["carol"]["retrieved_messages"], users["carol"]["deleted_messages"],
            users["carol"]["deleted_bytes"], users["carol"]["left_messages"]) == (3, 3, 5300, 0)
    assert "mon" not in users
    assert r["monitors"] == [{"user": "mon", "address": "127.0.0.1", "sessions": 3}]
    addresses = {a["address"]: a for a in r["addresses"]}
    assert addresses["192.0.2.7"] == {"address": "192.0.2.7", "host": "laptop.example", "sessions": 17,
                                      "users": 1, "failed_logins": 0, "refused_logins": 0,
                                      "deleted_messages": 16, "deleted_bytes": 16000}
    assert (addresses["198.51.100.9"]["host"], addresses["198.51.100.9"]["failed_logins"],
            addresses["198.51.100.9"]["refused_logins"]) == (None, 3, 1)
    assert "127.0.0.1" not in addresses
    assert r["refusal_codes"] == {"IN-USE": 1}


def test_polling_clients_and_their_median_interval(capsys, logs):
    _, r = report(capsys, *logs)
    assert r["polling_clients"] == [
        # Every 10 minutes over the New Year, then a poll at 09:05 UTC.
        {"user": "alice", "address": "192.0.2.7", "sessions": 17, "median_interval_seconds": 600},
        {"user": "carol", "address": "203.0.113.20", "sessions": 2, "median_interval_seconds": 1800},
        {"user": "bob", "address": "198.51.100.9", "sessions": 1, "median_interval_seconds": None},
    ]


def test_hours_and_days_take_the_year_from_each_file(capsys, logs):
    _, r = report(capsys, *logs)
    per_hour = {h: n for h, n in r["sessions_per_hour"].items() if n}
    assert per_hour == {"00": 4, "09": 2, "10": 2, "22": 6, "23": 6}  # RFC 3339 lines: their own clock
    assert {h: n for h, n in r["failed_logins_per_hour"].items() if n} == {"23": 3}
    assert r["sessions_per_day"] == {"2024-12-31": 12, "2025-01-01": 8}
    assert (r["first"], r["last"]) == ("2024-12-31 22:00:00", "2025-01-01 10:05:00")


def test_junk_and_other_programs_are_counted_not_fatal(capsys, logs):
    _, r = report(capsys, *logs)
    assert r["lines"] == {"read": 69, "pop3d": 54, "other_programs": 13, "malformed": 3, "unused": 2}


def test_file_order_does_not_matter(capsys, logs):
    _, forward = report(capsys, *logs)
    _, backward = report(capsys, *reversed(logs))
    assert {**forward, "files": None} == {**backward, "files": None}


def test_without_debug_lines_downloads_are_unknown(capsys, logs):
    _, r = report(capsys, *logs[1:])
    assert r["totals"]["retrieved_messages"] is None
    assert all(u["retrieved_messages"] is None for u in r["users"])
    main(logs[1:])
    assert "not logged (needs pop3d -d)" in capsys.readouterr().out


def test_text_report(capsys, logs):
    assert main(logs) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"pop3d-stats: {', '.join(logs)}: from 2024-12-31 22:00:00 to 2025-01-01 10:05:00"
    row = lines.index("Per user") + 3
    assert lines[row - 1].split() == ["user", "sessions", "polls", "failed", "refused", "retrieved",
                                      "deleted", "bytes", "del", "left", "bytes", "left"]
    assert lines[row].split() == ["alice", "17", "1", "0", "0", "0", "16", "16000", "0", "0"]
    client = lines.index("Clients that poll most often") + 3
    assert lines[client].split() == ["alice", "192.0.2.7", "17", "10m", "00s"]
    assert lines[client + 1].split() == ["carol", "203.0.113.20", "2", "30m", "00s"]
    assert lines[lines.index("Monitor sessions") + 3].split() == ["mon", "127.0.0.1", "3"]
    assert lines[lines.index("Sessions per hour") + 3 + 23].split() == ["23:00", "6", "3"]


def test_top_limits_every_table(capsys, logs):
    _, r = report(capsys, "--top", "1", *logs)
    assert [len(r[k]) for k in ("users", "addresses", "polling_clients")] == [1, 1, 1]
    assert r["totals"]["users"] == 3  # totals are over everything


def two_idents(tmp_path) -> str:
    """A mail.log with alice's session under ident in.qpopper and bob's under pop3d."""
    when = datetime(2024, 5, 1, 8, 0)
    return write_log(tmp_path / "mail.log", [
        kit.traditional(when, kit.stats("alice", 1, 10), ident="in.qpopper"),
        kit.traditional(when, kit.stats("bob", 1, 10)),
    ], datetime(2024, 5, 2))


def test_ident(capsys, tmp_path):
    log = two_idents(tmp_path)
    _, r = report(capsys, "--ident", "in.qpopper", log)
    assert [u["user"] for u in r["users"]] == ["alice"]
    assert (r["lines"]["pop3d"], r["lines"]["other_programs"], r["ident"]) == (1, 1, "in.qpopper")


def test_ident_comes_from_the_configuration(capsys, tmp_path):
    """With logging.ident in.qpopper, pop3d-stats printed zeros unless given --ident."""
    log = two_idents(tmp_path)
    config = tmp_path / "pop3d.yaml"
    config.write_text("logging: {ident: in.qpopper}\nusers: [{type: virtual, file: unread.yaml}]\n")
    _, r = report(capsys, "-c", str(config), log)
    assert [u["user"] for u in r["users"]] == ["alice"] and r["ident"] == "in.qpopper"
    _, r = report(capsys, "-c", str(config), "--ident", "pop3d", log)  # --ident wins
    assert [u["user"] for u in r["users"]] == ["bob"]


def test_a_configuration_that_cannot_be_read_is_one_line(capsys, tmp_path):
    assert main(["-c", str(tmp_path / "nope.yaml"), "-"]) == 2
    assert capsys.readouterr().err == \
        f"pop3d-stats: {tmp_path}/nope.yaml: (file): No such file or directory\n"


def test_quiet_prints_nothing_without_pop3d_lines(capsys, tmp_path):
    """For logwatch, whose services print nothing on a quiet day."""
    other = write_log(tmp_path / "mail.log", [kit.traditional(datetime(2024, 5, 1), "hi", ident="postfix")],
                      datetime(2024, 5, 2))
    assert main(["--quiet", other]) == 0
    assert capsys.readouterr().out == ""


def test_missing_file_and_truncated_gzip_report_what_was_read(capsys, tmp_path, logs):
    data = gzip.compress(b"".join(
        (kit.traditional(datetime(2024, 12, 31, 10, n), kit.stats("dave", 1, 5)) + "\n").encode()
        for n in range(50)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    status = main(["--json", str(tmp_path / "nonexistent.log"), str(cut), logs[0]])
    captured = capsys.readouterr()
    assert status == 1
    assert "pop3d-stats: " + str(tmp_path / "nonexistent.log") + ": No such file or directory" in captured.err
    assert f"pop3d-stats: {cut}: " in captured.err
    r = json.loads(captured.out)
    users = {u["user"]: u["sessions"] for u in r["users"]}
    assert users["carol"] == 2  # the file after the broken ones was read
    assert 0 < users["dave"] < 50


def test_gzipped_log_on_standard_input(tmp_path):
    lines = [kit.traditional(datetime(2024, 5, 1, 8, 0), kit.stats("alice", 2, 300, 1, 50)), "junk"]
    piped = subprocess.run([sys.executable, "-m", "pop3d.report", "--json", "-"],
                           input=gzip.compress("\n".join(lines).encode()), capture_output=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    r = json.loads(piped.stdout)
    assert (r["totals"]["sessions"], r["totals"]["deleted_bytes"], r["lines"]["malformed"]) == (1, 300, 1)


def test_empty_input(capsys, tmp_path):
    empty = write_log(tmp_path / "mail.log", [], datetime(2024, 5, 1))
    assert main([empty]) == 0
    out = capsys.readouterr().out
    assert "no lines from pop3d" in out.splitlines()[0]
    assert "  (none)" in out


@pytest.mark.parametrize("argv", [["--top", "-1"], ["--top", "x"], ["--bogus"]])
def test_bad_arguments_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "pop3d-stats: error:" in capsys.readouterr().err
