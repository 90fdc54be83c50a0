"""``-s``: qpopper's login, failed-login and ``Stats:`` lines, for existing log tools.

Client-supplied fields (user names, host names) are escaped
(:mod:`pop3d.logs.escape`), spaces included, so none can forge a field.
The wording is qpopper's, so tools written for it (logwatch's ``in.qpopper``
service, pflogsumm-style reports) read pop3d's mail.log unchanged::

    (v0.1.0) POP login by user "alice" at (client.example) 192.0.2.7
    [AUTH] Failed attempted login to alice from host (client.example) 192.0.2.7
    Stats: alice 2 4096 5 10240 client.example 192.0.2.7

``Stats:`` gives the user, messages and octets deleted, messages and octets
left, then the client's host name and address, then ``monitor`` for a
monitor account's session or ``poll`` for a login served an empty maildrop
under LOGIN-DELAY.  Deletions count only when
the session ended with QUIT and the maildrop was updated.
"""

from __future__ import annotations

import socket

from twisted.internet import threads

from pop3d.core import responses
from pop3d.logs.escape import escape, escape_word
from pop3d.logs.syslog_writer import LOG_NOTICE, LOG_WARNING, SyslogWriter
from pop3d.server.observers import ConnectionInfo, SessionObserver, SessionSummary


def stats_line(user: str, summary: SessionSummary, host: str, ip: str) -> str:
    user, host, ip = escape_word(user), escape_word(host), escape_word(ip)
    line = (f"Stats: {user} {summary.deleted_messages} {summary.deleted_octets} "
            f"{summary.left_messages} {summary.left_octets} {host} {ip}")
    # Health checks and LOGIN-DELAY polls carry a mark after the address, for
    # reports to leave out; qpopper's tools read only the first five fields.
    if summary.monitor:
        return line + " monitor"
    return line + " poll" if summary.poll else line


def login_line(version: str, user: str, host: str, ip: str) -> str:
    return f'(v{version}) POP login by user "{escape_word(user)}" at ({escape_word(host)}) {escape_word(ip)}'


def failed_login_line(user: str, host: str, ip: str) -> str:
    """The line fail2ban-style filters read: the user name can forge no part of it."""
    user, host, ip = escape_word(user), escape_word(host), escape_word(ip)
    return f"[AUTH] Failed attempted login to {user} from host ({host}) {ip}"


def refusal_line(user: str, host: str, ip: str, code: str | None, reason: str) -> str:
    """qpopper's form for refusals that are not about the password."""
    tag = f"[{code}] " if code else ""
    return f"{escape_word(user)} at {escape_word(host)} ({escape_word(ip)}): -ERR {tag}{escape(reason)}"


class StatsLog(SessionObserver):
    """Writes the qpopper-style lines for every session to syslog."""

    def __init__(self, writer: SyslogWriter, version: str, resolve_hosts: bool = True) -> None:
        self.writer = writer
        self.version = version
        self.resolve_hosts = resolve_hosts

    def connection_opened(self, conn: ConnectionInfo) -> None:
        if self.resolve_hosts and conn.peer_port:
            # The lookup runs in a worker thread; until it answers, the address stands in.
            d = threads.deferToThread(socket.getnameinfo, (conn.peer_ip, conn.peer_port), 0)
            d.addCallbacks(lambda result: setattr(conn, "peer_host", _host_name(result[0])),
                           lambda _failure: None)

    def login_succeeded(self, conn: ConnectionInfo, user: str, mechanism: str, seconds: float) -> None:
        self.writer.write(LOG_NOTICE, login_line(self.version, user, conn.peer_host, conn.peer_ip))

    def login_failed(self, conn: ConnectionInfo, user: str, mechanism: str,
                     code: str | None, reason: str, seconds: float) -> None:
        if code == responses.AUTH:
            self.writer.write(LOG_WARNING, failed_login_line(user, conn.peer_host, conn.peer_ip))
        else:
            self.writer.write(LOG_NOTICE, refusal_line(user, conn.peer_host, conn.peer_ip, code, reason))

    def connection_closed(self, conn: ConnectionInfo, summary: SessionSummary) -> None:
        if summary.user is not None:
            self.writer.write(LOG_NOTICE, stats_line(summary.user, summary, conn.peer_host, conn.peer_ip))


def _host_name(name: str) -> str:
    """A reverse-lookup answer fit for a log field: one word."""
    name = name.strip().rstrip(".")
    return name if name and not any(c.isspace() for c in name) else "unknown"
