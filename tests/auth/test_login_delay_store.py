"""The shared last-login store and the LOGIN-DELAY / monitor gate."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from pop3d.auth.admission import Kind, LoginGate, LoginTooSoon, build_gate, open_admitted
from pop3d.auth.last_login import LastLoginStore, StoreError
from pop3d.auth.records import UserRecord
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config, Limits
from pop3d.config.polling import LoginDelayConfig
from pop3d.maildrop import EmptyMaildrop, Location, MaildropBusy


def record(name: str = "alice", login_delay: int | None = None) -> UserRecord:
    return UserRecord(name, Location("maildir", f"/nonexistent/{name}"), login_delay=login_delay)


def test_claim_grants_then_refuses_within_the_interval(tmp_path):
    store = LastLoginStore(str(tmp_path))
    first = store.claim("alice", 300, now=1000.0)
    assert (first.granted, first.previous) == (True, None)
    early = store.claim("alice", 300, now=1100.0)
    assert (early.granted, early.previous, early.wait) == (False, 1000.0, 200.0)
    assert store.claim("bob", 300, now=1100.0).granted
    later = store.claim("alice", 300, now=1300.0)
    assert (later.granted, later.previous) == (True, 1000.0)
    assert store.last("alice") == 1300.0


def test_survives_reopening(tmp_path):
    LastLoginStore(str(tmp_path)).claim("alice", 300, now=1000.0)
    assert not LastLoginStore(str(tmp_path)).claim("alice", 300, now=1001.0).granted


def test_time_in_the_future_does_not_lock_out(tmp_path):
    store = LastLoginStore(str(tmp_path))
    store.claim("alice", 300, now=5000.0)
    assert store.claim("alice", 300, now=1000.0).granted  # the clock was stepped back


def test_undo_restores_the_previous_time_only_if_unchanged(tmp_path):
    store = LastLoginStore(str(tmp_path))
    store.claim("alice", 300, now=1000.0)
    claim = store.claim("alice", 300, now=2000.0)
    store.undo("alice", claim.at, claim.previous)
    assert store.last("alice") == 1000.0
    fresh = store.claim("bob", 300, now=1000.0)
    store.claim("bob", 0, now=1500.0)  # someone else logged in since
    store.undo("bob", fresh.at, fresh.previous)
    assert store.last("bob") == 1500.0


def test_unusable_state_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError):
        LastLoginStore(str(blocker / "state"))
    config = Config(path="/etc/pop3d.yaml", hostname="h", listen=(), timeout=600, maildrop="",
                    mbox_format="mboxrd", users=(), limits=Limits(),
                    login_delay=LoginDelayConfig(seconds=60, state_dir=str(blocker / "state")))
    with pytest.raises(ConfigError, match="login_delay.state_dir"):
        build_gate(config)


def _claim_many(path: str, users: list[str], out) -> None:
    store = LastLoginStore(path)
    out.put({user: store.claim(user, 3600).granted for user in users})


def test_concurrent_writers_in_several_processes_agree(tmp_path):
    """Four processes race to log in 100 users: each user's slot is granted exactly once."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    users = [f"user{i}" for i in range(100)]
    orders = [users, users[::-1], users[50:] + users[:50], users[::2] + users[1::2]]
    procs = [ctx.Process(target=_claim_many, args=(str(tmp_path), order, out)) for order in orders]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert {user: sum(r[user] for r in results) for user in users} == dict.fromkeys(users, 1)


def gate(tmp_path, **kw) -> LoginGate:
    monitors = kw.pop("monitors", frozenset())
    return LoginGate(LoginDelayConfig(state_dir=str(tmp_path), **kw), frozenset(monitors))


def test_gate_without_login_delay_opens_normally(tmp_path):
    g = gate(tmp_path)
    assert g.store is None
    assert g.admit(record()).kind is Kind.NORMAL
    assert not os.listdir(tmp_path)


def test_gate_empty_policy_gives_polls_an_empty_maildrop(tmp_path):
    g = gate(tmp_path, seconds=300, policy="empty")
    first = g.admit(record())
    assert (first.kind, first.login_delay) == (Kind.NORMAL, 300)
    second = g.admit(record())
    assert (second.kind, second.login_delay) == (Kind.POLL, 300)


def test_gate_reject_policy_raises(tmp_path):
    g = gate(tmp_path, seconds=300, policy="reject")
    g.admit(record())
    with pytest.raises(LoginTooSoon, match="minimum interval between logins is 300 seconds"):
        g.admit(record())


def test_per_user_values_users_file_then_config_then_global(tmp_path):
    g = gate(tmp_path, seconds=300, users={"bob": 60, "carol": 0})
    assert g.user_delay(record("alice")) == 300
    assert g.user_delay(record("bob")) == 60
    assert g.user_delay(record("bob", login_delay=900)) == 900
    g.admit(record("carol"))
    assert g.admit(record("carol")).kind is Kind.NORMAL  # 0: no minimum


def test_monitors_are_exempt_and_never_recorded(tmp_path):
    g = gate(tmp_path, seconds=300, monitors={"haproxy"})
    for _ in range(3):
        assert g.admit(record("haproxy")) .kind is Kind.MONITOR
    assert g.store is not None and g.store.last("haproxy") is None
    assert g.admit(record("haproxy")).login_delay is None


def test_open_admitted_never_opens_the_maildrop_for_monitors_and_polls(tmp_path):
    g = gate(tmp_path, seconds=300, monitors={"mon"})

    def opener(*args):
        raise AssertionError("the maildrop must not be opened")

    maildrop, admission = open_admitted(g, record("mon"), opener)
    assert isinstance(maildrop, EmptyMaildrop) and admission.kind is Kind.MONITOR
    g.admit(record())
    maildrop, admission = open_admitted(g, record(), opener)
    assert isinstance(maildrop, EmptyMaildrop) and admission.kind is Kind.POLL


def test_failed_open_gives_the_slot_back(tmp_path):
    g = gate(tmp_path, seconds=300)

    def busy(*args):
        raise MaildropBusy("locked")

    with pytest.raises(MaildropBusy):
        open_admitted(g, record(), busy)
    assert g.store is not None and g.store.last("alice") is None
    assert g.admit(record()).kind is Kind.NORMAL  # the next real login is not delayed


class BrokenStore(LastLoginStore):
    def claim(self, user, interval, now=None):
        raise StoreError("disk I/O error")


def test_broken_store_does_not_lock_users_out(tmp_path):
    g = LoginGate(LoginDelayConfig(seconds=300), frozenset(), BrokenStore(str(tmp_path)))
    admission = g.admit(record())
    assert (admission.kind, admission.login_delay, admission.claim) == (Kind.NORMAL, 300, None)
