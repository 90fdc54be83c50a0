"""Settings for polling relief and qpopper's extensions.

``login_delay`` (RFC 2449 LOGIN-DELAY), ``expire`` (RFC 2449 EXPIRE),
``monitors`` (health-check accounts) and ``xtnd`` (XTND XLIST and XMIT)::

    login_delay:
      seconds: 300            # minimum interval between a user's logins
      policy: empty           # empty: serve an empty maildrop; reject: -ERR [LOGIN-DELAY]
      state_dir: /var/lib/pop3d  # default: the top-level state_dir
      users: {carol: 900}     # per-user values (the users file may also set them)
    expire: NEVER             # or days: retrieved mail is deleted that long after (0: at QUIT)
    monitors: [haproxy]       # accounts that log in with no maildrop
    xtnd:
      enabled: true
      submit: /usr/sbin/sendmail -t -i
      max_message: 10485760
      mail_domain: example.org   # -f user@example.org; default: hostname
      from_policy: sender        # sender: add Sender: for a foreign From:; enforce: refuse it
      max_recipients: 50
      max_messages: 20           # per user and rate_window seconds
      rate_window: 3600
      run_as: nobody             # who runs the command for virtual users when pop3d is root
"""

from __future__ import annotations

import pwd
import shlex
from dataclasses import dataclass, field

from pop3d.config.reader import Section
from pop3d.core.xmit_headers import FROM_POLICIES

LOGIN_DELAY_POLICIES = ("empty", "reject")
DEFAULT_SUBMIT = ("/usr/sbin/sendmail", "-t", "-i")
DEFAULT_STATE_DIR = "/var/lib/pop3d"


@dataclass(frozen=True)
class LoginDelayConfig:
    """The minimum interval between logins, and what happens to early ones."""

    #: Global minimum interval in seconds; None: no LOGIN-DELAY at all.
    seconds: int | None = None
    policy: str = "empty"
    #: Folder of the shared last-login database.
    state_dir: str = DEFAULT_STATE_DIR
    #: Per-user intervals from the config (the users file may also give one).
    users: dict[str, int] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.seconds is not None or bool(self.users)


@dataclass(frozen=True)
class XtndConfig:
    enabled: bool = False
    #: Mail submission command; ``-f USER`` is added for the sender.
    submit: tuple[str, ...] = DEFAULT_SUBMIT
    #: Largest message XMIT accepts, in octets; the excess is discarded.
    max_message: int = 10 * 1024 * 1024
    #: Seconds the submission command may run before it is killed.
    submit_timeout: float = 120.0
    #: Domain of the users' addresses (``-f user@domain``); None: the ``hostname`` setting.
    mail_domain: str | None = None
    #: A ``From:`` other than the user's address: "sender" adds ``Sender:``, "enforce" refuses.
    from_policy: str = "sender"
    #: Most recipients one message may name in To/Cc/Bcc (and Resent-).
    max_recipients: int = 50
    #: Messages one user may submit per ``rate_window`` seconds (per server process).
    max_messages: int = 20
    rate_window: float = 3600.0
    #: The user the command runs as for virtual users while pop3d is root (None: ``run_as``).
    run_as: str | None = None


def load_expire(top: Section) -> str:
    """``NEVER`` or a whole number of days, as advertised in CAPA."""
    value = top._get("expire", "NEVER")
    if isinstance(value, str) and value.upper() == "NEVER":
        return "NEVER"
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise top.error("expire", f"must be NEVER or a number of days (0 or more), not {value!r}")
    return str(value)


def load_login_delay(section: Section, state_dir: str = DEFAULT_STATE_DIR) -> LoginDelayConfig:
    """The ``login_delay`` section; its database lives in ``state_dir`` unless it names its own."""
    if not section.data:
        section.finish()
        return LoginDelayConfig(state_dir=state_dir)
    users_section = section.section("users")
    users: dict[str, int] = {}
    for name in list(users_section.data):
        users[str(name)] = users_section.int(str(name), minimum=0)
    config = LoginDelayConfig(
        seconds=section.int("seconds", None, minimum=0),
        policy=section.str("policy", "empty", choices=LOGIN_DELAY_POLICIES),
        state_dir=section.path_("state_dir", state_dir),
        users=users,
    )
    section.finish()
    return config


def load_xtnd(section: Section) -> XtndConfig:
    submit_value = section._get("submit", None)
    if submit_value is None:
        submit = DEFAULT_SUBMIT
    elif isinstance(submit_value, str) and submit_value.strip():
        submit = tuple(shlex.split(submit_value))
    elif isinstance(submit_value, list) and submit_value and all(
            isinstance(a, str) and a for a in submit_value):
        submit = tuple(submit_value)
    else:
        raise section.error("submit", "must be a command line or a list of arguments")
    if not submit[0].startswith("/"):
        raise section.error("submit", f"needs an absolute program path, not {submit[0]!r}")
    run_as = section.str("run_as", None)
    if run_as is not None:
        try:
            account = pwd.getpwuid(int(run_as)) if run_as.isdigit() else pwd.getpwnam(run_as)
        except KeyError:
            raise section.error("run_as", f"no such user: {run_as}") from None
        if account.pw_uid == 0:
            raise section.error("run_as", "must not be root: the submission command runs as this user")
    config = XtndConfig(
        enabled=section.bool("enabled", False),
        submit=submit,
        max_message=section.int("max_message", XtndConfig.max_message, minimum=1024),
        submit_timeout=section.float("submit_timeout", XtndConfig.submit_timeout, minimum=1),
        mail_domain=section.str("mail_domain", None),
        from_policy=section.str("from_policy", "sender", choices=FROM_POLICIES),
        max_recipients=section.int("max_recipients", XtndConfig.max_recipients, minimum=1),
        max_messages=section.int("max_messages", XtndConfig.max_messages, minimum=1),
        rate_window=section.float("rate_window", XtndConfig.rate_window, minimum=1),
        run_as=run_as,
    )
    section.finish()
    return config


def load_monitors(top: Section) -> frozenset[str]:
    return frozenset(top.str_list("monitors", []))
