"""pop3d-stats: syslog time stamps (both rsyslog layouts, year rollover) and pop3d's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import report_kit as kit

from pop3d.report import events
from pop3d.report.syslog_lines import parse_line

REF = datetime(2024, 5, 1, 12, 0, 0)


def test_traditional_line_parts():
    line = parse_line("May  1 08:00:01 mail pop3d[4242]: Stats: alice 1 2 3 4 h 192.0.2.7", REF)
    assert line is not None
    assert (line.wall, line.host, line.ident, line.pid) == (
        datetime(2024, 5, 1, 8, 0, 1), "mail", "pop3d", 4242)
    assert line.message == "Stats: alice 1 2 3 4 h 192.0.2.7"
    assert line.instant == datetime(2024, 5, 1, 8, 0, 1).timestamp()


def test_two_digit_day_and_ident_without_pid():
    line = parse_line("Apr 30 23:59:59 mail in.qpopper: hello", REF)
    assert line is not None
    assert (line.wall, line.ident, line.pid, line.message) == (datetime(2024, 4, 30, 23, 59, 59),
                                                               "in.qpopper", None, "hello")


@pytest.mark.parametrize("stamp, instant", [
    ("2024-05-01T08:00:01.123456+02:00", datetime(2024, 5, 1, 6, 0, 1, 123456, tzinfo=UTC)),
    ("2024-05-01T08:00:01+02:00", datetime(2024, 5, 1, 6, 0, 1, tzinfo=UTC)),
    ("2024-05-01T08:00:01.123456789Z", datetime(2024, 5, 1, 8, 0, 1, 123456, tzinfo=UTC)),
    ("2024-05-01T08:00:01-0500", datetime(2024, 5, 1, 13, 0, 1, tzinfo=UTC)),
])
def test_rfc3339_line_keeps_wall_clock_and_true_instant(stamp, instant):
    line = parse_line(f"{stamp} mail pop3d[7]: x", REF)
    assert line is not None
    assert line.wall.replace(microsecond=0) == datetime(2024, 5, 1, 8, 0, 1)  # the hour as written
    assert line.instant == pytest.approx(instant.timestamp())


def test_rfc3339_ignores_the_reference_year():
    line = parse_line("2019-12-31T23:00:00+00:00 mail pop3d[7]: x", REF)
    assert line is not None and line.wall.year == 2019


def test_year_rollover_december_lines_in_a_january_log():
    january = datetime(2025, 1, 2, 6, 0)  # the file was last written on 2 January 2025
    december = parse_line("Dec 31 23:59:58 mail pop3d[1]: x", january)
    new_year = parse_line("Jan  1 00:00:02 mail pop3d[1]: x", january)
    assert december is not None and new_year is not None
    assert december.wall == datetime(2024, 12, 31, 23, 59, 58)
    assert new_year.wall == datetime(2025, 1, 1, 0, 0, 2)
    assert new_year.instant - december.instant == 4


def test_a_clock_slightly_ahead_of_the_file_stays_in_the_same_year():
    reference = datetime(2025, 1, 1, 0, 0, 30)
    line = parse_line("Jan  1 00:05:00 mail pop3d[1]: x", reference)
    assert line is not None and line.wall.year == 2025


def test_29_february_goes_to_the_last_leap_year():
    line = parse_line("Feb 29 10:00:00 mail pop3d[1]: x", datetime(2025, 6, 1))
    assert line is not None and line.wall == datetime(2024, 2, 29, 10, 0)


@pytest.mark.parametrize("text", [
    "",
    "garbage",
    "pop3d[1]: Stats: alice 0 0 0 0 h 1.2.3.4",  # pop3d's standard-error fallback: no time stamp
    "Foo  1 08:00:01 mail pop3d[1]: x",  # no such month
    "May 32 08:00:01 mail pop3d[1]: x",  # no such day
    "May  1 25:00:01 mail pop3d[1]: x",
    "2024-13-01T08:00:01+00:00 mail pop3d[1]: x",
    "May  1 08:00:01 mail",  # cut short
    "\x00\x01\x02 binary",
])
def test_not_a_syslog_line(text):
    assert parse_line(text, REF) is None


def test_stats_line_as_written_by_the_server():
    event = events.parse_message(kit.stats("alice", 2, 4096, 5, 10240, "c.example", "192.0.2.7"))
    assert event == events.Session("alice", 2, 4096, 5, 10240, "c.example", "192.0.2.7")


@pytest.mark.parametrize("marks", [{"monitor": True}, {"poll": True}])
def test_stats_marks(marks):
    event = events.parse_message(kit.stats("mon", **marks))
    assert isinstance(event, events.Session)
    assert (event.monitor, event.poll) == (marks.get("monitor", False), marks.get("poll", False))


def test_login_failed_and_refused_lines():
    assert events.parse_message(kit.login("alice", "h", "192.0.2.1")) == \
        events.Login("alice", "h", "192.0.2.1")
    # A failed login names whatever the client typed, spaces included (escaped in the log,
    # unescaped by the parser).
    assert events.parse_message(kit.failed("no such user", "h", "192.0.2.1")) == \
        events.FailedLogin("no such user", "h", "192.0.2.1")
    assert events.parse_message(kit.refused("bob", "IN-USE", "maildrop locked", "h", "192.0.2.1")) == \
        events.RefusedLogin("bob", "h", "192.0.2.1", "IN-USE")
    assert events.parse_message(kit.refused("bob", "SYS/TEMP", "try later")) == \
        events.RefusedLogin("bob", "client.example", "192.0.2.7", "SYS/TEMP")


def test_debug_lines():
    assert events.parse_message(kit.debug_login("9-3", "alice", "AUTH PLAIN")) == \
        events.DebugLogin("9-3", "alice")
    assert events.parse_message(kit.debug_sent("9-3", 12)) == events.Retrieved("9-3", 12)
    assert events.parse_message(kit.debug_sent("9-3", 12, body_lines=0)) == events.Other()  # TOP
    assert events.parse_message("debug: [9-3] state AUTHORIZATION -> TRANSACTION") == events.Other()


@pytest.mark.parametrize("message", [
    "Stats: alice 1 2 3",
    "Stats: alice x 2 3 4 h 192.0.2.7",
    "Stats: alice 1 2 3 4 h 192.0.2.7 surprise",
    "[AUTH] Failed attempted login to alice",
    '(v0.1.0) POP login by user "alice" at nowhere',
])
def test_broken_pop3d_lines_are_malformed(message):
    assert events.parse_message(message) == events.Malformed()


def test_other_pop3d_lines():
    assert events.parse_message("pop3d 0.1.0 listening on tcp:110") == events.Other()


def test_kit_lines_round_trip():
    when = datetime(2024, 5, 1, 8, 0, 1, 250000, tzinfo=timezone(timedelta(hours=2)))
    for text in (kit.traditional(when.replace(tzinfo=None), "m"), kit.rfc3339(when, "m")):
        line = parse_line(text, REF)
        assert line is not None and line.message == "m" and line.wall.hour == 8


def test_forged_user_name_is_read_back_whole_not_as_fields():
    """A user name carrying spaces, a separator and a fake segment is one field in the report."""
    forged = "eve from host (x) 203.0.113.9\u2028"
    event = events.parse_message(kit.failed(forged, "h", "192.0.2.1"))
    assert event == events.FailedLogin(forged, "h", "192.0.2.1")
