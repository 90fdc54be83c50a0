"""``login_delay.policy: reject`` as each client shows it, and no client loses or re-fetches mail.

pop3d answers a login sooner than LOGIN-DELAY allows with
``-ERR [LOGIN-DELAY] minimum interval between logins is N seconds; try again
in M seconds`` (RFC 2449), not as a failed password: no failure delay, no
``[AUTH]`` log line for fail2ban.  What the user sees is the client's choice:
fetchmail prints the text and files it as "lock busy" (its transient class,
so it never mails the user about a bad password); getmail prints the text;
curl says "Login denied" and mpop "authentication failed", without the text.
"""

from __future__ import annotations

import os
import poplib

import pytest
from interop_kit import PASSWORD, interop_server, maildir_count, run, tool, torture_set
from support import HOST

REFUSAL = "[LOGIN-DELAY] minimum interval between logins is 300 seconds; try again in"
MESSAGES = torture_set(small=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A reject policy, and a user who has just logged in once."""
    extra = {"login_delay": {"seconds": 300, "policy": "reject"}}
    with interop_server(str(tmp_path_factory.mktemp("delay")), {"u": MESSAGES}, extra=extra) as s:
        pop = poplib.POP3(HOST, s.port)
        pop.user("u")
        pop.pass_(PASSWORD)
        pop.quit()
        yield s
        assert maildir_count(s.maildir("u")) == len(MESSAGES)
        assert "[AUTH]" not in s.server.log()


def test_fetchmail_shows_the_text_and_counts_it_as_transient(server, tmp_path):
    rc = tmp_path / ".fetchmailrc"
    rc.write_text(f'poll localhost protocol pop3 service {server.port} user "u" password "{PASSWORD}" keep '
                  f'sslcertfile "{server.cert.certificate}" mda "cat > /dev/null"\n')
    rc.chmod(0o600)
    pidfile = str(tmp_path / "fetchmail.pid")  # as root, fetchmail's default is shared: /var/run
    result = run([tool("fetchmail"), "-f", str(rc), "--nosyslog", "--pidfile", pidfile], check=False,
                 env=dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path)))
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 9, output  # PS_LOCKBUSY: "try again later", not PS_AUTHFAIL (3)
    assert REFUSAL in output


def test_curl_says_login_denied(server):
    result = run([tool("curl"), "-sS", "-u", f"u:{PASSWORD}", f"pop3://{HOST}:{server.port}/"], check=False)
    assert result.returncode == 67 and b"Login denied" in result.stderr, result.stderr


def test_mpop_says_authentication_failed(server, tmp_path):
    rc = tmp_path / "mpoprc"
    rc.write_text(f"account default\nhost {HOST}\nport {server.port}\nuser u\npassword {PASSWORD}\ntls on\n"
                  f"tls_trust_file {server.cert.certificate}\nkeep on\ndelivery mbox /dev/null\n"
                  f"uidls_file {tmp_path}/uidls\n")
    rc.chmod(0o600)
    result = run([tool("mpop"), "-C", str(rc)], check=False)
    assert result.returncode == 77 and b"authentication failed" in result.stderr, result.stderr  # EX_NOPERM


def test_getmail_shows_the_text(server, tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (tmp_path / "getmailrc").write_text(
        f"[retriever]\ntype = SimplePOP3Retriever\nserver = {HOST}\nport = {server.port}\nusername = u\n"
        f"password = {PASSWORD}\n[destination]\ntype = Maildir\npath = {maildir}/\nuser = nobody\n"
        "[options]\nread_all = false\n")
    result = run([tool("getmail"), "--getmaildir", str(tmp_path), "--rcfile", "getmailrc"], check=False,
                 env=dict(os.environ, HOME=str(tmp_path)))
    assert REFUSAL.encode() in result.stderr, result.stderr


def test_poplib_raises_with_the_text(server):
    pop = poplib.POP3(HOST, server.port)
    pop.user("u")
    with pytest.raises(poplib.error_proto, match=r"\[LOGIN-DELAY\]"):
        pop.pass_(PASSWORD)
    pop.quit()
