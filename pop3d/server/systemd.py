"""systemd socket activation, through Twisted's ``systemd:`` endpoint.

With ``pop3d.socket`` (``ListenStream=110``), systemd binds the port and
starts pop3d with the listening sockets from file descriptor 3 on
(``LISTEN_FDS``).  A ``listen:`` entry such as ``systemd:domain=INET6:index=0``
(or ``tls:systemd:domain=INET:name=pop3s``) names one explicitly; when the
configuration names none, every socket systemd passed is used in place of
the configured addresses, and those named ``pop3s`` (``FileDescriptorName=``,
as in ``pop3s.socket``, ``ListenStream=995``) speak implicit TLS.  Sockets
passed without names (``systemd-socket-activate`` without ``--fdname``, other
launchers) are used too: names only pick TLS.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import MutableMapping

from pop3d.config.tls import IMPLICIT_TLS_PREFIX

#: The first descriptor systemd passes (sd_listen_fds(3)).
LISTEN_FDS_START = 3
#: Sockets passed under this name (``FileDescriptorName=``) are POP3S.
IMPLICIT_TLS_NAME = "pop3s"


def name_unnamed_sockets(environ: MutableMapping[str, str] | None = None) -> None:
    """Give sockets passed without ``LISTEN_FDNAMES`` the name sd_listen_fds_with_names(3) gives them.

    Twisted ignores every passed socket when the names are missing, and reads
    the environment once, when ``twisted.internet.endpoints`` is imported:
    call this first.
    """
    env = os.environ if environ is None else environ
    if env.get("LISTEN_PID") != str(os.getpid()) or "LISTEN_FDNAMES" in env:
        return
    try:
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return
    env["LISTEN_FDNAMES"] = ":".join(["unknown"] * count)


def activation_listeners(reactor: object, environ: dict[str, str] | None = None) -> list[str]:
    """Endpoint descriptions for the sockets systemd passed to this process, in order."""
    from twisted.internet.endpoints import serverFromString

    env = os.environ if environ is None else environ
    names = env.get("LISTEN_FDNAMES", "").split(":")
    descriptions = []
    for index in itertools.count():
        try:
            serverFromString(reactor, f"systemd:domain=INET:index={index}")
        except IndexError:
            break
        description = f"systemd:domain={_domain(LISTEN_FDS_START + index)}:index={index}"
        if index < len(names) and names[index] == IMPLICIT_TLS_NAME:
            description = IMPLICIT_TLS_PREFIX + description
        descriptions.append(description)
    return descriptions


def _domain(fd: int) -> str:
    """The address family of socket ``fd`` as the endpoint wants it: INET, INET6 or UNIX."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        return sock.family.name.removeprefix("AF_")


def listen_descriptions(reactor: object, configured: tuple[str, ...]) -> tuple[str, ...]:
    """What to listen on: the configured endpoints, or systemd's sockets if it passed any."""
    if any(d.removeprefix(IMPLICIT_TLS_PREFIX).startswith("systemd:") for d in configured):
        return configured
    return tuple(activation_listeners(reactor)) or configured
