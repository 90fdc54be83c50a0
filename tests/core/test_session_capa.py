"""CAPA (RFC 2449) in each state and under each policy flag."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pop3d.core.actions import Send
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session

POLICY = SessionPolicy(hostname="pop.test", version="9.9")


def capa(state: str = "authz", user_delay: int | None = None, tls: bool = False,
         **policy: object) -> list[str]:
    s = Session(replace(POLICY, **policy), "<c@pop.test>")
    if tls:
        s.tls_started()
    if state == "trans":
        s.receive_line(b"USER alice")
        s.receive_line(b"PASS pw")
        s.login_succeeded("alice", [], login_delay=user_delay)
    [action] = s.receive_line(b"CAPA")
    assert isinstance(action, Send)
    lines = action.data.split(b"\r\n")
    assert lines[0] == b"+OK capability list follows"
    assert lines[-2:] == [b".", b""]
    return [line.decode() for line in lines[1:-2]]


def test_default_capabilities_before_login():
    assert capa() == ["TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                      "IMPLEMENTATION pop3d-9.9"]


def test_default_capabilities_after_login():
    assert capa("trans") == ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                             "IMPLEMENTATION pop3d-9.9"]


@pytest.mark.parametrize("keyword", [b"capa", b"Capa", b"CAPA"])
def test_keyword_case_insensitive(keyword):
    s = Session(POLICY, "<c@h>")
    assert s.receive_line(keyword)[0].data.startswith(b"+OK capability list follows")


def test_user_hidden_when_plaintext_not_allowed_without_tls():
    assert "USER" not in capa(plaintext_without_tls=False)
    assert "USER" in capa(plaintext_without_tls=False, tls_active=True)
    assert "USER" in capa(plaintext_without_tls=False, tls=True)


@pytest.mark.parametrize(("kwargs", "offered"), [
    ({}, False),
    ({"stls_available": True}, True),
    ({"stls_available": True, "tls_active": True}, False),
    ({"stls_available": True, "tls": True}, False),
    ({"stls_available": True, "state": "trans"}, False),
])
def test_stls_only_when_available_and_tls_not_active(kwargs, offered):
    assert ("STLS" in capa(**kwargs)) is offered


def test_sasl_lists_mechanisms_in_order():
    assert "SASL PLAIN CRAM-MD5 LOGIN" in capa(sasl_mechanisms=("PLAIN", "CRAM-MD5", "LOGIN"))


def test_sasl_plaintext_mechanisms_filtered_without_tls():
    caps = capa(sasl_mechanisms=("PLAIN", "CRAM-MD5", "LOGIN"), plaintext_without_tls=False)
    assert "SASL CRAM-MD5" in caps
    caps = capa(sasl_mechanisms=("PLAIN", "CRAM-MD5", "LOGIN"), plaintext_without_tls=False, tls=True)
    assert "SASL PLAIN CRAM-MD5 LOGIN" in caps


def test_sasl_omitted_when_nothing_is_left():
    caps = capa(sasl_mechanisms=("PLAIN", "LOGIN"), plaintext_without_tls=False)
    assert not any(c.startswith("SASL") for c in caps)
    assert not any(c.startswith("SASL") for c in capa())


def test_sasl_not_listed_after_login():
    assert not any(c.startswith("SASL") for c in capa("trans", sasl_mechanisms=("CRAM-MD5",)))


def test_custom_plaintext_mechanisms():
    caps = capa(sasl_mechanisms=("PLAIN", "X-SECRET"), plaintext_mechanisms=frozenset({"X-SECRET"}),
                plaintext_without_tls=False)
    assert "SASL PLAIN" in caps


def test_login_delay_policy_value_before_login_user_value_after():
    assert "LOGIN-DELAY 900" in capa(login_delay=900)
    assert not any(c.startswith("LOGIN-DELAY") for c in capa())
    assert "LOGIN-DELAY 60" in capa("trans", user_delay=60, login_delay=900)
    assert not any(c.startswith("LOGIN-DELAY") for c in capa("trans", login_delay=900))


@pytest.mark.parametrize("state", ["authz", "trans"])
@pytest.mark.parametrize("expire", ["NEVER", "30", None])
def test_expire(state, expire):
    caps = capa(state, expire=expire)
    assert (f"EXPIRE {expire}" in caps) is (expire is not None)
    assert sum(c.startswith("EXPIRE") for c in caps) == (expire is not None)


@pytest.mark.parametrize("state", ["authz", "trans"])
def test_xtnd_and_extra_capabilities(state):
    caps = capa(state, xtnd=True, extra_capabilities=("X-ONE", "X-TWO 2"))
    assert caps[-4:] == ["XTND", "X-ONE", "X-TWO 2", "IMPLEMENTATION pop3d-9.9"]
    assert "XTND" not in capa(state)


def test_capa_in_transaction_ignores_arguments():
    s = Session(POLICY, "<c@h>")
    assert s.receive_line(b"CAPA please")[0].data.startswith(b"+OK capability list follows")
