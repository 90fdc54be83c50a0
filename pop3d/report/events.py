"""Turn the message of one pop3d log line into an event.

The formats are the ones :mod:`pop3d.logs.stats` (``-s``) and
:mod:`pop3d.logs.debug` (``-d``) write::

    Stats: alice 2 4096 5 10240 client.example 192.0.2.7 [monitor|poll]
    (v0.1.0) POP login by user "alice" at (client.example) 192.0.2.7
    [AUTH] Failed attempted login to alice from host (client.example) 192.0.2.7
    alice at client.example (192.0.2.7): -ERR [IN-USE] maildrop already locked
    debug: [1234-7] USER login as alice: credentials checked and maildrop locked in 0.004 s
    debug: [1234-7] sending message 3 (whole)

A message that starts like one of these but does not parse is *malformed*;
anything else pop3d wrote (startup, warnings, other debug lines) is *other*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pop3d.logs.escape import unescape


@dataclass(frozen=True)
class Session:
    """A ``Stats:`` line: one session that logged in has ended."""

    user: str
    deleted_messages: int
    deleted_bytes: int
    left_messages: int
    left_bytes: int
    host: str
    address: str
    #: A monitor account's health check.
    monitor: bool = False
    #: A login sooner than LOGIN-DELAY, served an empty maildrop.
    poll: bool = False


@dataclass(frozen=True)
class Login:
    """A successful login (``POP login by user``)."""

    user: str
    host: str
    address: str


@dataclass(frozen=True)
class FailedLogin:
    """Bad credentials (``[AUTH] Failed attempted login``)."""

    user: str
    host: str
    address: str


@dataclass(frozen=True)
class RefusedLogin:
    """A login refused for another reason (``-ERR [IN-USE]``, ``[LOGIN-DELAY]``, ``[SYS/TEMP]`` ...)."""

    user: str
    host: str
    address: str
    #: The RFC 2449/3206 response code, or "" when the refusal had none.
    code: str


@dataclass(frozen=True)
class DebugLogin:
    """``-d``: connection ``connection`` logged in as ``user``."""

    connection: str
    user: str


@dataclass(frozen=True)
class Retrieved:
    """``-d``: message ``number`` was sent whole (RETR) on ``connection``."""

    connection: str
    number: int


@dataclass(frozen=True)
class Malformed:
    """Starts like a known pop3d line but does not parse."""


@dataclass(frozen=True)
class Other:
    """A pop3d line the report has no use for."""


Event = Session | Login | FailedLogin | RefusedLogin | DebugLogin | Retrieved | Malformed | Other

_STATS = re.compile(r"Stats: (\S+) (\d+) (\d+) (\d+) (\d+) (\S+) (\S+)(?: (monitor|poll))?")
_LOGIN = re.compile(r'\(v\S*\) POP login by user "(.*)" at \((\S*)\) (\S+)')
_FAILED = re.compile(r"\[AUTH\] Failed attempted login to (.*) from host \((\S*)\) (\S+)")
_REFUSED = re.compile(r"(.*) at (\S+) \((\S+)\): -ERR (?:\[([A-Z][A-Z0-9/-]*)\] )?.*")
_DEBUG = re.compile(r"debug: \[(\S+)\] (.*)")
_DEBUG_LOGIN = re.compile(r".+? login as (.*): credentials checked and maildrop locked in [0-9.]+ s")
_DEBUG_SENT = re.compile(r"sending message (\d+) \((.*)\)")


def parse_message(message: str) -> Event:
    """The event one pop3d message records."""
    message = message.rstrip()
    if message.startswith("Stats:"):
        m = _STATS.fullmatch(message)
        if m is None:
            return Malformed()
        user, dm, db, lm, lb, host, address, mark = m.groups()
        return Session(unescape(user), int(dm), int(db), int(lm), int(lb), unescape(host), unescape(address),
                       monitor=mark == "monitor", poll=mark == "poll")
    if m := _LOGIN.fullmatch(message):
        return Login(*map(unescape, m.groups()))
    if message.startswith("[AUTH] Failed attempted login"):
        m = _FAILED.fullmatch(message)
        return FailedLogin(*map(unescape, m.groups())) if m else Malformed()
    if m := _DEBUG.fullmatch(message):
        return _debug_event(m[1], m[2])
    if m := _REFUSED.fullmatch(message):
        return RefusedLogin(unescape(m[1]), unescape(m[2]), unescape(m[3]), m[4] or "")
    if message.startswith("(v") and " POP login by user " in message:
        return Malformed()
    return Other()


def _debug_event(connection: str, text: str) -> Event:
    if m := _DEBUG_LOGIN.fullmatch(text):
        return DebugLogin(connection, unescape(m[1]))
    if m := _DEBUG_SENT.fullmatch(text):
        # "whole" is RETR; "headers and N body lines" is TOP, not a download.
        return Retrieved(connection, int(m[1])) if m[2] == "whole" else Other()
    return Other()
