"""The command table: which keyword runs which handler in which states.

Handlers are registered with :func:`command`, one function per keyword, in
the modules of :mod:`pop3d.core.commands`.  A handler receives the session
and the raw argument bytes (everything after the first space) and returns
actions, or raises :class:`CommandError` for a ``-ERR`` answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.actions import Action
    from pop3d.core.session import Session

Handler = Callable[["Session", bytes], "list[Action]"]


class CommandError(Exception):
    """Answer the command with ``-ERR``.

    ``invalid`` marks a syntax or state error: it counts toward the limit of
    bad commands in a row.
    """

    def __init__(self, text: str, code: str | None = None, *, invalid: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.invalid = invalid


@dataclass(frozen=True)
class Command:
    name: str
    states: frozenset[State]
    handler: Handler
    syntax: str


COMMANDS: dict[str, Command] = {}


def command(name: str, *states: State, syntax: str = "") -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name``."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, frozenset(states), handler, syntax or name)
        return handler

    return register
