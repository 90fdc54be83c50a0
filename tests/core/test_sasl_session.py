"""SASL AUTH (RFC 5034) in the sans-IO session: listing, PLAIN, LOGIN, CRAM-MD5, cancel, bad input."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest

from pop3d.auth.credentials import CramMD5Credentials
from pop3d.core.actions import Authenticate, Send
from pop3d.core.commands.capa import capabilities
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.core.states import State

POLICY = SessionPolicy(hostname="pop.test", sasl_mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"))


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def new_session(**policy: object) -> Session:
    return Session(replace(POLICY, **policy), "<abc.1@pop.test>")


def sent(actions: list) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send))


def only_auth(actions: list) -> Authenticate:
    [action] = actions
    assert isinstance(action, Authenticate)
    return action


def test_auth_without_argument_lists_the_mechanisms():
    s = new_session()
    listing = b"+OK SASL mechanisms follow\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n"
    assert sent(s.receive_line(b"AUTH")) == listing


def test_capa_advertises_the_same_mechanisms():
    assert "SASL PLAIN LOGIN CRAM-MD5" in capabilities(new_session())


def test_plaintext_mechanisms_hidden_and_refused_without_tls_when_policy_says_so():
    s = new_session(plaintext_without_tls=False)
    assert "SASL CRAM-MD5" in capabilities(s)
    assert s.receive_line(b"AUTH PLAIN " + b64(b"\0alice\0pw")) == [
        Send(b"-ERR [AUTH] plaintext authentication is disabled on unencrypted connections; use STLS\r\n")]
    assert s.state is State.AUTHORIZATION


def test_cram_md5_hidden_without_tls_when_apop_requires_tls():
    s = new_session(apop_requires_tls=True)
    assert "SASL PLAIN LOGIN" in capabilities(s)
    assert sent(s.receive_line(b"AUTH CRAM-MD5")).startswith(b"-ERR [AUTH] CRAM-MD5 is allowed only over TLS")
    tls = new_session(apop_requires_tls=True, tls_active=True)
    assert "SASL PLAIN LOGIN CRAM-MD5" in capabilities(tls)


def test_plain_with_initial_response():
    s = new_session()
    auth = only_auth(s.receive_line(b"AUTH PLAIN " + b64(b"\0alice\0secret pw")))
    assert (auth.username, auth.mechanism) == ("alice", "PLAIN")
    assert auth.credentials.username == b"alice" and auth.credentials.password == b"secret pw"
    assert s.state is State.AUTHENTICATING


def test_plain_without_initial_response_and_matching_authzid():
    s = new_session()
    assert s.receive_line(b"auth plain") == [Send(b"+ \r\n")]
    auth = only_auth(s.receive_line(b64(b"alice\0alice\0pw")))
    assert auth.credentials.password == b"pw"


def test_plain_authzid_mismatch_is_refused_and_session_stays_usable():
    s = new_session()
    assert s.receive_line(b"AUTH PLAIN " + b64(b"root\0alice\0pw")) == [
        Send(b"-ERR [AUTH] authorization identity must be empty or the user's own\r\n")]
    assert s.state is State.AUTHORIZATION and s.continuation is None
    assert isinstance(s.receive_line(b"AUTH PLAIN " + b64(b"\0alice\0pw"))[0], Authenticate)


@pytest.mark.parametrize("line", [b"not base64!", b"YWJj=", b"AAAA" + b"\xff"])
def test_malformed_base64_gets_err_and_session_stays_usable(line):
    s = new_session()
    s.receive_line(b"AUTH PLAIN")
    assert s.receive_line(line) == [Send(b"-ERR malformed base64 in AUTH response\r\n")]
    assert s.state is State.AUTHORIZATION and s.continuation is None
    assert sent(s.receive_line(b"STAT")).startswith(b"-ERR STAT not valid")  # a command, not SASL
    assert s.receive_line(b"QUIT")[0] == Send(b"+OK pop3d at pop.test signing off.\r\n")


def test_malformed_plain_message():
    s = new_session()
    assert sent(s.receive_line(b"AUTH PLAIN " + b64(b"alice:pw"))) == b"-ERR malformed PLAIN response\r\n"


def test_star_cancels_the_exchange():
    s = new_session()
    s.receive_line(b"AUTH LOGIN")
    assert s.receive_line(b"*") == [Send(b"-ERR authentication cancelled\r\n")]
    assert s.state is State.AUTHORIZATION and s.continuation is None


def test_login_exchange():
    s = new_session()
    assert s.receive_line(b"AUTH LOGIN") == [Send(b"+ " + b64(b"Username:") + b"\r\n")]
    assert s.receive_line(b64(b"bob")) == [Send(b"+ " + b64(b"Password:") + b"\r\n")]
    auth = only_auth(s.receive_line(b64(b"bob-pw")))
    assert (auth.username, auth.credentials.password, auth.mechanism) == ("bob", b"bob-pw", "LOGIN")


def test_login_with_initial_response_and_cancel_at_password():
    s = new_session()
    assert s.receive_line(b"AUTH LOGIN " + b64(b"bob")) == [Send(b"+ " + b64(b"Password:") + b"\r\n")]
    assert s.receive_line(b"*") == [Send(b"-ERR authentication cancelled\r\n")]


def test_cram_md5_exchange_checks_hmac_of_our_challenge():
    s = new_session()
    [challenge_line] = s.receive_line(b"AUTH CRAM-MD5")
    assert challenge_line.data.startswith(b"+ ")
    challenge = base64.b64decode(challenge_line.data[2:].strip())
    assert challenge.startswith(b"<") and challenge.endswith(b"@pop.test>")
    digest = hmac.new(b"tanstaaftanstaaf", challenge, hashlib.md5).hexdigest().encode()
    auth = only_auth(s.receive_line(b64(b"tim " + digest)))
    creds = auth.credentials
    assert isinstance(creds, CramMD5Credentials) and auth.username == "tim"
    assert creds.checkPassword(b"tanstaaftanstaaf")
    assert not creds.checkPassword(b"wrong")
    assert "tanstaaf" not in repr(creds) and digest.decode() not in repr(creds)


def test_cram_md5_challenges_differ_per_exchange():
    s1, s2 = new_session(), new_session()
    assert s1.receive_line(b"AUTH CRAM-MD5") != s2.receive_line(b"AUTH CRAM-MD5")


def test_cram_md5_refuses_initial_response_and_bad_digest():
    s = new_session()
    refusal = b"-ERR CRAM-MD5 takes no initial response\r\n"
    assert sent(s.receive_line(b"AUTH CRAM-MD5 " + b64(b"x"))) == refusal
    s.receive_line(b"AUTH CRAM-MD5")
    assert sent(s.receive_line(b64(b"tim nothex"))) == b"-ERR malformed CRAM-MD5 response\r\n"


def test_unknown_mechanism():
    s = new_session()
    assert s.receive_line(b"AUTH GSSAPI") == [Send(b"-ERR unsupported authentication mechanism GSSAPI\r\n")]


def test_auth_not_valid_in_transaction():
    s = new_session()
    s.receive_line(b"AUTH PLAIN " + b64(b"\0alice\0pw"))
    s.login_succeeded("alice", ())
    assert sent(s.receive_line(b"AUTH")).startswith(b"-ERR AUTH not valid in the TRANSACTION state")
