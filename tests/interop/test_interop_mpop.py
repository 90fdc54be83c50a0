"""mpop: ``tls on`` and its other defaults (STLS, delete), tls on 995, auth user/plain/apop, --only-new.

mpop delivers into a Maildir (``delivery maildir``) and puts a ``Received:``
header before each message (its ``received_header`` default), which is
stripped before comparing; it keeps every other byte, bare CR included.
"""

from __future__ import annotations

import os

import pytest
from interop_kit import (
    APOP_SECRET,
    PASSWORD,
    as_delivered,
    compare,
    interop_server,
    maildir_count,
    read_maildir,
    run,
    tool,
    torture_set,
    without_prepended,
)
from support import HOST

MESSAGES = torture_set()
SPECIAL = torture_set(small=0)
USERS = {"defaults": MESSAGES, "tls": SPECIAL, "user": SPECIAL, "plain": SPECIAL, "apop": SPECIAL,
         "only-new": MESSAGES}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with interop_server(str(tmp_path_factory.mktemp("mpop")), USERS, apop=True) as s:
        yield s


def mpop(server, tmp_path, user: str, settings: str = "", secret: str = PASSWORD,
         args: tuple[str, ...] = ()) -> tuple[list[bytes], str]:
    """One mpop run (``tls on``, its other defaults, then ``settings``).

    Returns the messages in its Maildir and its debug transcript.
    """
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    rc = tmp_path / "mpoprc"
    rc.write_text(f"account default\nhost {HOST}\nport {server.port}\nuser {user}\npassword {secret}\n"
                  f"tls on\ntls_trust_file {server.cert.certificate}\ndelivery maildir {maildir}\n"
                  f"uidls_file {tmp_path}/uidls\n{settings}")
    rc.chmod(0o600)
    result = run([tool("mpop"), "--debug", "-C", str(rc), *args], env=dict(os.environ, HOME=str(tmp_path)))
    delivered = [without_prepended(m, b"Received") for m in read_maildir(str(maildir))]
    return delivered, result.stdout.decode(errors="replace")


def test_mpop_defaults_use_stls_and_fetch_everything(server, tmp_path):
    delivered, log = mpop(server, tmp_path, "defaults")
    compare(delivered, MESSAGES, as_delivered)
    assert "--> STLS" in log
    assert maildir_count(server.maildir("defaults")) == 0  # mpop's default: keep off


@pytest.mark.parametrize(("user", "settings", "secret"), [
    ("tls", "tls_starttls off\nport {tls_port}\n", PASSWORD),  # implicit TLS on 995
    ("user", "auth user\n", PASSWORD),
    ("plain", "auth plain\n", PASSWORD),
    ("apop", "auth apop\ntls off\n", APOP_SECRET.decode()),
])
def test_mpop_modes(server, tmp_path, user, settings, secret):
    delivered, log = mpop(server, tmp_path, user, settings.format(tls_port=server.tls_port), secret)
    compare(delivered, SPECIAL, as_delivered)


def test_mpop_only_new_twice_delivers_nothing_the_second_time(server, tmp_path):
    delivered, _ = mpop(server, tmp_path, "only-new", "keep on\n", args=("--only-new",))
    compare(delivered, MESSAGES, as_delivered)
    again, log = mpop(server, tmp_path, "only-new", "keep on\n", args=("--only-new",))
    assert len(again) == len(delivered), log[-2000:]
    assert maildir_count(server.maildir("only-new")) == len(MESSAGES)
