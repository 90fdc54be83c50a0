"""getmail6: SimplePOP3Retriever and SimplePOP3SSLRetriever into a Maildir, keep and delete, run twice.

getmail puts ``Delivered-To:`` and ``Return-Path:`` before each message it
delivers (its ``delivered_to`` and ``received`` options); they are getmail's
and stripped before comparing.  getmail parses each message with Python's
email package, which turns a bare CR into a line end and ends a header-only
message's header block with a blank line; ``getmail_form`` says so.
getmail refuses to deliver as root, so when the suite runs as root its Maildir
belongs to ``nobody`` (getmail's ``user`` option), in a folder of its own outside
pytest's private temporary tree.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile

import pytest
from interop_kit import (
    PASSWORD,
    as_delivered,
    compare,
    interop_server,
    maildir_count,
    read_maildir,
    run,
    tool,
    torture_set,
    with_header_end,
    without_prepended,
)
from support import HOST

#: getmail forks a delivery process per message (over 100 ms each as root): the 500 small messages,
#: which test nothing the other clients' runs do not, would take a minute.
SPECIAL = torture_set(small=20)
USERS = dict.fromkeys(("defaults", "keep", "delete", "ssl-keep", "ssl-delete"), SPECIAL)


def getmail_form(stored: bytes) -> bytes:
    """What getmail delivers of a stored message: LF ends, a bare CR made a line end, headers ended."""
    return with_header_end(as_delivered(stored).replace(b"\r", b"\n"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with interop_server(str(tmp_path_factory.mktemp("getmail")), USERS) as s:
        yield s


@pytest.fixture
def maildir():
    """An empty Maildir getmail may deliver into (``nobody``'s when we are root)."""
    top = tempfile.mkdtemp(prefix="interop-getmail-")
    os.chmod(top, 0o755)
    path = os.path.join(top, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for folder in (path, *(os.path.join(path, sub) for sub in ("new", "cur", "tmp"))):
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    yield path
    shutil.rmtree(top)


def getmail(server, tmp_path, maildir: str, user: str, retriever: str, options: str) -> list[bytes]:
    """One getmail run; every message in its destination Maildir so far."""
    home = tmp_path / "getmail"
    home.mkdir(exist_ok=True)
    deliverer = "user = nobody\n" if os.geteuid() == 0 else ""
    ssl = retriever.endswith("SSLRetriever")
    port = server.tls_port if ssl else server.port
    tls = f"ca_certs = {server.cert.certificate}\n" if ssl else ""
    (home / "getmailrc").write_text(
        f"[retriever]\ntype = {retriever}\nserver = {HOST}\nport = {port}\nusername = {user}\n"
        f"password = {PASSWORD}\n{tls}[destination]\ntype = Maildir\npath = {maildir}/\n{deliverer}"
        f"[options]\n{options}\n")
    run([tool("getmail"), "--getmaildir", str(home), "--rcfile", "getmailrc"],
        env=dict(os.environ, HOME=str(tmp_path)), timeout=120)
    return [without_prepended(m, b"Delivered-To", b"Return-Path", b"Received") for m in read_maildir(maildir)]


def test_getmail_defaults_retrieve_all_and_keep_it(server, tmp_path, maildir):
    # getmail's defaults: read_all = true, delete = false: everything, every run, nothing deleted.
    compare(getmail(server, tmp_path, maildir, "defaults", "SimplePOP3Retriever", ""), SPECIAL, getmail_form)
    assert maildir_count(server.maildir("defaults")) == len(SPECIAL)


@pytest.mark.parametrize(("user", "retriever", "options", "left"), [
    ("keep", "SimplePOP3Retriever", "read_all = false\ndelete = false", len(SPECIAL)),
    ("delete", "SimplePOP3Retriever", "delete = true", 0),
    ("ssl-keep", "SimplePOP3SSLRetriever", "read_all = false\ndelete = false", len(SPECIAL)),
    ("ssl-delete", "SimplePOP3SSLRetriever", "delete = true", 0),
])
def test_getmail_twice_delivers_each_message_once(server, tmp_path, maildir, user, retriever, options, left):
    expected = USERS[user]
    compare(getmail(server, tmp_path, maildir, user, retriever, options), expected, getmail_form)
    again = getmail(server, tmp_path, maildir, user, retriever, options)
    compare(again, expected, getmail_form)  # the same messages, no new copies
    assert maildir_count(server.maildir(user)) == left
