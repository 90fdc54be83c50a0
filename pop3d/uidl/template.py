"""Dovecot's ``pop3_uidl_format`` templates, expanded as Dovecot's var_expand does.

``%[-][0][width][.[0][-]width]{modifiers}{variable}``: a width with a
leading 0 pads with zeros (never truncates); without it, the value is cut
to the width; ``offset.width`` skips ``offset`` characters first (from the
end when negative).  Modifiers apply in order: ``X`` (decimal to lower-case
hex, as ``%llx``), ``L``/``U`` (case), ``R`` (reverse), ``T`` (trim trailing
space), ``M`` (MD5 in hex), ``E`` (backslash-escape ``\\`` and ``"``).
Variables: ``u``/``{uid}`` IMAP UID, ``v``/``{uidvalidity}``, ``m``/``{md5}``
header MD5, ``f``/``{filename}`` Maildir base name, ``g``/``{guid}``; ``%%``
is a percent sign.  Dovecot's hash modifiers (``H``, ``N``) are refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT = "%08Xu%08Xv"
VARIABLES = {"u": "uid", "v": "uidvalidity", "m": "md5", "f": "filename", "g": "guid", "%": "%"}
_LONG = {long: short for short, long in VARIABLES.items()}
_MODIFIERS = "XLURTME"
_FIELD = re.compile(r"%(-?)(0?)(\d*)(?:\.(0?)(-?)(\d*))?([A-Z]*)(\{[a-z]+\}|.)", re.S)
_HEX_ALPHABET = frozenset("0123456789abcdef")


class TemplateError(ValueError):
    """The template cannot be expanded; the text says why."""


@dataclass(frozen=True)
class Field:
    variable: str  # one of VARIABLES
    modifiers: str
    offset: int
    width: int
    zero_pad: bool


def _hex(value: str) -> str:
    return format(int(value), "x") if value.isdigit() else "0"


_APPLY = {
    "X": _hex, "L": str.lower, "U": str.upper, "R": lambda s: s[::-1], "T": str.rstrip,
    "M": lambda s: hashlib.md5(s.encode()).hexdigest(),
    "E": lambda s: s.replace("\\", "\\\\").replace('"', '\\"'),
}


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and fields, in order."""

    source: str
    parts: tuple[str | Field, ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[str | Field] = []
        pos = 0
        for match in _FIELD.finditer(source):
            if match.start() > pos:
                parts.append(source[pos:match.start()])
            parts.append(_field(match))
            pos = match.end()
        rest = source[pos:]
        if "%" in rest:
            raise TemplateError(f"{source!r} ends inside a %-field")
        if rest:
            parts.append(rest)
        fields = [p for p in parts if isinstance(p, Field) and p.variable != "%"]
        if not fields:
            raise TemplateError(f"{source!r} has no variable (%u, %v, %m, %f or %g)")
        return cls(source, tuple(parts))

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p.variable for p in self.parts if isinstance(p, Field) and p.variable != "%")

    def expand(self, values: Mapping[str, str]) -> str:
        """The UIDL for ``values`` ({"u": "17", "v": "1700000000", ...})."""
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _expand(part, values))
        return "".join(out)

    def alphabet(self) -> frozenset[str] | None:
        """Every character an expansion can contain, or None when it can contain any.

        UIDs, UIDVALIDITY and MD5s give digits or hex; file names and GUIDs anything.
        """
        chars: set[str] = set()
        for part in self.parts:
            if isinstance(part, str):
                chars.update(part)
                continue
            if part.variable == "%":
                chars.add("%")
            elif part.variable in ("f", "g") or set(part.modifiers) - set("XLUT"):
                return None
            else:
                chars.update(_HEX_ALPHABET)
                if "U" in part.modifiers:
                    chars.update(c.upper() for c in _HEX_ALPHABET)
        return frozenset(chars)


def _field(match: re.Match[str]) -> Field:
    sign, zero, width, zero2, sign2, width2, modifiers, name = match.groups()
    if name.startswith("{"):
        long = name[1:-1]
        if long not in _LONG:
            raise TemplateError(f"unknown variable %{name} (known: {', '.join(VARIABLES.values())})")
        name = _LONG[long]
    elif name not in VARIABLES:
        raise TemplateError(f"unknown variable %{name} (known: %u %v %m %f %g)")
    bad = set(modifiers) - set(_MODIFIERS)
    if bad:
        raise TemplateError(f"modifier {''.join(sorted(bad))} is not supported (supported: {_MODIFIERS})")
    number = int(width or 0) * (-1 if sign else 1)
    if width2 is None:
        return Field(name, modifiers, 0, number, bool(zero))
    return Field(name, modifiers, number, int(width2 or 0) * (-1 if sign2 else 1), bool(zero2))


def _expand(field: Field, values: Mapping[str, str]) -> str:
    if field.variable == "%":
        return "%"
    value = values[field.variable]
    for modifier in field.modifiers:
        value = _APPLY[modifier](value)
    if field.offset:  # from the start, or from the end when negative
        value = value[field.offset:]
    if field.width == 0:
        return value
    if field.zero_pad:
        return value.rjust(field.width, "0")
    if field.width < 0:
        return value[:max(0, len(value) + field.width)]
    return value[:field.width]
