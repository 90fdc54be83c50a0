"""AUTHORIZATION: USER/PASS, APOP, the Authenticate action and login verdicts."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword, UsernamePassword

from pop3d.auth.credentials import APOPCredentials
from pop3d.core import responses
from pop3d.core.actions import Authenticate, Close, Send
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.core.states import ProtocolStateError, State

CHALLENGE = "<abc.123@pop.test>"
POLICY = SessionPolicy(hostname="pop.test", version="9.9")


def new_session(**policy: object) -> Session:
    return Session(replace(POLICY, **policy), CHALLENGE)


def digest(secret: bytes, challenge: str = CHALLENGE) -> str:
    return hashlib.md5(challenge.encode() + secret).hexdigest()


def authenticate(actions: list) -> Authenticate:
    assert len(actions) == 1 and isinstance(actions[0], Authenticate), actions
    return actions[0]


# -- USER / PASS ---------------------------------------------------------------

def test_user_pass_hands_username_password_to_the_adapter():
    s = new_session()
    assert s.receive_line(b"USER alice") == [Send(b"+OK password required for alice\r\n")]
    assert s.pending_user == "alice"
    auth = authenticate(s.receive_line(b"PASS secret"))
    assert (auth.username, auth.mechanism) == ("alice", "USER")
    assert isinstance(auth.credentials, UsernamePassword)
    assert IUsernamePassword.providedBy(auth.credentials)
    assert auth.credentials.username == b"alice"
    assert auth.credentials.password == b"secret"
    assert auth.credentials.checkPassword(b"secret")
    assert not auth.credentials.checkPassword(b"Secret")
    assert s.state is State.AUTHENTICATING and s.busy


@pytest.mark.parametrize("password", [b"with spaces", b" leading", b"trailing ", b"a  b\tc", b"x"])
def test_pass_keeps_the_whole_rest_of_the_line(password):
    s = new_session()
    s.receive_line(b"USER alice")
    assert authenticate(s.receive_line(b"PASS " + password)).credentials.password == password


def test_user_keyword_is_case_insensitive_name_is_not():
    s = new_session()
    assert s.receive_line(b"user Alice") == [Send(b"+OK password required for Alice\r\n")]
    assert authenticate(s.receive_line(b"pAsS pw")).username == "Alice"


def test_user_name_in_utf8():
    s = new_session()
    s.receive_line("USER j\u00fcrgen".encode())
    assert authenticate(s.receive_line(b"PASS pw")).credentials.username == "j\u00fcrgen".encode()


def test_user_surrounding_spaces_are_dropped():
    s = new_session()
    assert s.receive_line(b"USER  alice ") == [Send(b"+OK password required for alice\r\n")]


def test_pass_without_user():
    s = new_session()
    assert s.receive_line(b"PASS secret") == [Send(b"-ERR USER first\r\n")]
    assert s.state is State.AUTHORIZATION


@pytest.mark.parametrize("line", [b"PASS", b"PASS "])
def test_pass_without_password(line):
    s = new_session()
    s.receive_line(b"USER alice")
    assert s.receive_line(line) == [Send(b"-ERR PASS needs a password\r\n")]
    assert s.pending_user == "alice"


def test_user_again_replaces_the_pending_name():
    s = new_session()
    s.receive_line(b"USER alice")
    s.receive_line(b"USER bob")
    assert authenticate(s.receive_line(b"PASS pw")).username == "bob"


@pytest.mark.parametrize("arg", [b"", b" ", b"two words", b"a\tb", b"nul\x00", b"del\x7f", b"esc\x1b[0m",
                                 b"\xff\xfe", b"x" * 256])
def test_bad_user_names_are_refused(arg):
    s = new_session()
    assert s.receive_line(b"USER " + arg if arg else b"USER") == [Send(b"-ERR invalid user name\r\n")]
    assert s.pending_user is None


def test_longest_user_name():
    s = new_session()
    assert s.receive_line(b"USER " + b"x" * 255)[0].data.startswith(b"+OK")


@pytest.mark.parametrize("name", ["a\u2028b", "a\x85b", "caf\u00e9", "a\u202eb"])
def test_user_echo_never_carries_odd_characters(name):
    reply = new_session().receive_line(b"USER " + name.encode())[0].data
    assert reply.startswith(b"+OK password required for ")
    assert reply.count(b"\r\n") == 1 and reply.endswith(b"\r\n")
    assert all(32 <= b < 127 for b in reply[:-2])


def test_user_and_pass_refused_without_tls_when_plaintext_not_allowed():
    s = new_session(plaintext_without_tls=False)
    err = b"-ERR [AUTH] plaintext authentication is disabled on unencrypted connections; use STLS\r\n"
    assert s.receive_line(b"USER alice") == [Send(err)]
    assert s.receive_line(b"PASS secret") == [Send(err)]
    assert s.pending_user is None and s.state is State.AUTHORIZATION


@pytest.mark.parametrize("how", ["policy", "started"])
def test_user_pass_allowed_over_tls_when_plaintext_not_allowed(how):
    s = new_session(plaintext_without_tls=False, tls_active=how == "policy")
    if how == "started":
        s.tls_started()
    s.receive_line(b"USER alice")
    assert authenticate(s.receive_line(b"PASS pw")).mechanism == "USER"


# -- APOP ------------------------------------------------------------------------

def test_apop_hands_apop_credentials_bound_to_the_greeting_challenge():
    s = new_session()
    auth = authenticate(s.receive_line(f"APOP alice {digest(b'tanstaaf')}".encode()))
    assert (auth.username, auth.mechanism) == ("alice", "APOP")
    creds = auth.credentials
    assert isinstance(creds, APOPCredentials)
    assert IUsernameHashedPassword.providedBy(creds)
    assert creds.username == b"alice"
    assert creds.challenge == CHALLENGE.encode()
    assert creds.checkPassword(b"tanstaaf")
    assert not creds.checkPassword(b"tanstaaF")
    assert "tanstaaf" not in repr(creds) and digest(b"tanstaaf") not in repr(creds)


def test_apop_rfc1939_example():
    creds = APOPCredentials(b"mrose", b"<1896.697170952@dbc.mtview.ca.us>",
                            b"c4c9334bac560ecc979e58001b3e22fb")
    assert creds.checkPassword(b"tanstaaf")


def test_apop_digest_is_case_insensitive():
    s = new_session()
    creds = authenticate(s.receive_line(f"APOP alice {digest(b'pw').upper()}".encode())).credentials
    assert creds.checkPassword(b"pw")


def test_apop_digest_for_another_challenge_fails():
    s = new_session()
    creds = authenticate(s.receive_line(f"APOP alice {digest(b'pw', '<other@x>')}".encode())).credentials
    assert not creds.checkPassword(b"pw")


@pytest.mark.parametrize("args", [b"", b"alice", b"alice " + b"0" * 32 + b" extra"])
def test_apop_usage(args):
    s = new_session()
    assert s.receive_line(b"APOP " + args) == [Send(b"-ERR usage: APOP name digest\r\n")]
    assert s.state is State.AUTHORIZATION


@pytest.mark.parametrize("bad", [b"0" * 31, b"0" * 33, b"g" * 32, b"-" + b"0" * 31, b"\xff" * 32])
def test_apop_digest_must_be_32_hex_digits(bad):
    s = new_session()
    assert s.receive_line(b"APOP alice " + bad) == [Send(b"-ERR invalid APOP digest\r\n")]


def test_apop_bad_name():
    assert new_session().receive_line(b"APOP a\x01b " + b"0" * 32) == [Send(b"-ERR invalid user name\r\n")]


@pytest.mark.parametrize("policy", [{"apop_requires_tls": True}, {"apop_available": False}],
                         ids=["requires-tls", "no-apop-secrets"])
def test_greeting_without_timestamp_when_apop_cannot_succeed_and_apop_refused_at_once(policy):
    """RFC 1939 clients read a timestamp as "APOP offered": none unless APOP can work (issue 12)."""
    s = new_session(**policy)
    assert s.greeting() == [Send(b"+OK pop3d 9.9 at pop.test starting.\r\n")]
    line = f"APOP alice {digest(b'pw')}".encode()
    refused = [Send(b"-ERR [AUTH] APOP is not available on this connection\r\n")]
    assert s.receive_line(line) == refused and s.auth_failures == 0
    s.tls_started()  # no timestamp was sent: STLS does not make APOP usable
    assert s.receive_line(line) == refused


def test_greeting_carries_the_timestamp_when_apop_can_succeed():
    assert new_session().greeting() == [Send(f"+OK pop3d 9.9 at pop.test starting. {CHALLENGE}\r\n".encode())]
    tls = new_session(apop_requires_tls=True, tls_active=True)
    assert authenticate(tls.receive_line(f"APOP alice {digest(b'pw')}".encode())).mechanism == "APOP"


def test_apop_is_not_affected_by_the_plaintext_policy():
    s = new_session(plaintext_without_tls=False)
    assert authenticate(s.receive_line(f"APOP alice {digest(b'pw')}".encode())).mechanism == "APOP"


# -- verdicts ---------------------------------------------------------------------

def authenticating(**policy: object) -> Session:
    s = new_session(**policy)
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    return s


def test_login_succeeded_enters_transaction_with_totals():
    s = authenticating()
    actions = s.login_succeeded("alice", [MessageInfo(10, "a"), MessageInfo(32, "b")])
    assert actions == [Send(b"+OK alice has 2 messages (42 octets)\r\n")]
    assert s.state is State.TRANSACTION
    assert (s.username, s.pending_user) == ("alice", None)


def test_login_succeeded_echo_is_clean():
    s = authenticating()
    reply = s.login_succeeded("eve\r\n+OK", [])[0].data
    assert reply.count(b"\r\n") == 1


def test_login_failed_returns_to_authorization_and_forgets_user():
    s = authenticating()
    assert s.login_failed("bad password") == [Send(b"-ERR [AUTH] bad password\r\n")]
    assert s.state is State.AUTHORIZATION
    assert s.pending_user is None
    assert s.auth_failures == 1
    assert s.receive_line(b"PASS pw") == [Send(b"-ERR USER first\r\n")]


@pytest.mark.parametrize("code", [responses.IN_USE, responses.SYS_TEMP, responses.LOGIN_DELAY, None])
def test_login_failed_for_other_reasons_does_not_count(code):
    s = new_session(max_auth_failures=1)
    for _ in range(3):
        s.receive_line(b"USER alice")
        s.receive_line(b"PASS pw")
        actions = s.login_failed("maildrop busy", code)
        assert actions == [Send(responses.err("maildrop busy", code))]
    assert s.auth_failures == 0
    assert s.state is State.AUTHORIZATION


def test_too_many_failed_logins_close():
    s = new_session(max_auth_failures=2)
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    assert s.login_failed("no")[-1] != Close()
    s.receive_line(f"APOP alice {digest(b'x')}".encode())
    assert s.login_failed("no") == [
        Send(b"-ERR [AUTH] no\r\n"),
        Send(b"-ERR too many failed logins, closing\r\n"),
        Close(),
    ]
    assert s.closed
    with pytest.raises(ProtocolStateError):
        s.receive_line(b"USER alice")


def test_failed_logins_do_not_reset_on_good_commands():
    s = new_session(max_auth_failures=2)
    for _ in range(2):
        s.receive_line(b"USER alice")
        s.receive_line(b"PASS pw")
        actions = s.login_failed("no")
        if not s.closed:
            s.receive_line(b"CAPA")
    assert actions[-1] == Close()


def test_a_successful_login_after_failures():
    s = new_session(max_auth_failures=3)
    for _ in range(2):
        s.receive_line(b"USER alice")
        s.receive_line(b"PASS pw")
        s.login_failed("no")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    assert s.login_succeeded("alice", [])[0].data.startswith(b"+OK")
