"""The header section of an XTND XMIT message, checked as it streams past.

XMIT hands a user's message to the local MTA, which trusts its headers: with
``-t`` the recipients come from ``To:``/``Cc:``/``Bcc:`` (and their
``Resent-`` forms), and readers trust ``From:``.  :class:`HeaderGuard` sees
each line once, keeps only what the checks need (bounded), and so

* drops any ``Sender:`` the client wrote and, when ``From:`` is not the
  user's address, adds ``Sender: <user's address>`` (RFC 5322 3.6.2) at the
  end of the header section, or (policy ``enforce``) refuses the message;
* adds ``From: <user's address>`` when the message has none (the MTA would
  otherwise name the account the submission command runs as);
* counts the recipients and refuses more than the configured cap.
"""

from __future__ import annotations

from email.utils import getaddresses

#: ``xtnd.from_policy`` values: add a Sender: header, or refuse a foreign From:.
FROM_POLICIES = ("sender", "enforce")
RECIPIENT_FIELDS = frozenset({"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"})
#: Octets of ``From:`` and recipient field values kept for the checks; more is refused.
MAX_KEPT = 64 * 1024


class HeaderProblem(Exception):
    """The message is refused; ``str()`` says why, for the client's ``-ERR``."""


class HeaderGuard:
    """Filters the lines of one message (without line ends) until its header section ends."""

    def __init__(self, address: str, policy: str = "sender", max_recipients: int = 50) -> None:
        self.address = address
        self.policy = policy
        self.max_recipients = max_recipients
        self.in_headers = True
        self.fields: list[tuple[str, str]] = []
        self.kept = 0
        #: The field the next folded line continues (None: not one we keep).
        self.current: int | None = None
        self.skipping = False

    def line(self, line: bytes) -> list[bytes]:
        """The lines to spool in place of ``line``; raises :class:`HeaderProblem`."""
        if not self.in_headers:
            return [line]
        if line[:1] in (b" ", b"\t"):
            return self._continuation(line)
        name, colon, value = line.partition(b":")
        if line == b"" or not colon or not _field_name(name):
            # A blank line ends the header section; a line that is no header field begins the body.
            return [*self.finish(), b"", line] if line else [*self.finish(), b""]
        key = name.strip().decode("ascii").lower()
        self.skipping = key == "sender"
        self.current = None
        if key == "from" or key in RECIPIENT_FIELDS:
            self.current = len(self.fields)
            self.fields.append((key, ""))
            self._keep(value)
        return [] if self.skipping else [line]

    def _continuation(self, line: bytes) -> list[bytes]:
        if self.current is not None:
            self._keep(line)
        return [] if self.skipping else [line]

    def _keep(self, value: bytes) -> None:
        self.kept += len(value)
        if self.kept > MAX_KEPT:
            raise HeaderProblem("message headers too long; discarded")
        assert self.current is not None
        key, text = self.fields[self.current]
        self.fields[self.current] = (key, text + value.decode("utf-8", "replace"))

    def finish(self) -> list[bytes]:
        """The header section is over: the lines to add at its end (the checks run here)."""
        if not self.in_headers:
            return []
        self.in_headers = False
        recipients = sum(len(_addresses(text)) for key, text in self.fields if key in RECIPIENT_FIELDS)
        if recipients > self.max_recipients:
            raise HeaderProblem(f"too many recipients ({recipients}); at most {self.max_recipients} "
                                "per message; discarded")
        senders = [a for key, text in self.fields if key == "from" for a in _addresses(text)]
        if not senders:
            return [b"From: " + self.address.encode("utf-8")]
        if all(a.lower() == self.address.lower() for a in senders):
            return []
        if self.policy == "enforce":
            raise HeaderProblem(f"From: must be your address {self.address}; discarded")
        return [b"Sender: " + self.address.encode("utf-8")]


def _field_name(name: bytes) -> bool:
    """RFC 5322 field name (printable ASCII but ``:``), allowing obsolete spaces before the colon."""
    name = name.rstrip(b" \t")
    return bool(name) and all(33 <= b <= 126 for b in name)


def _addresses(text: str) -> list[str]:
    return [addr for _, addr in getaddresses([" ".join(text.split())]) if addr]
