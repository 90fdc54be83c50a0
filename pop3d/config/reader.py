"""Typed access to a YAML mapping that names the key in every error."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pop3d.config.errors import ConfigError

T = TypeVar("T")
_MISSING = object()


class Section:
    """A mapping read from a file, consumed key by key.

    Every getter records the key; :meth:`finish` rejects keys nobody asked
    for, so a misspelt setting is an error rather than silently ignored.
    """

    def __init__(self, path: str, data: object, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path, prefix or "(top level)", f"must be a mapping, not {_kind(data)}")
        self.data: dict[Any, Any] = data
        self._seen: set[str] = set()

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.path, self.key(name), problem)

    def _get(self, name: str, default: object) -> object:
        self._seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.error(name, "is required")
        return default

    def has(self, name: str) -> bool:
        return name in self.data

    def str(self, name: str, default: object = _MISSING, choices: Iterable[str] | None = None) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value:
            raise self.error(name, f"must be a non-empty string, not {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def int(self, name: str, default: object = _MISSING, minimum: int | None = None,
            maximum: int | None = None) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be a whole number, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, not {value}")
        return value

    def float(self, name: str, default: object = _MISSING, minimum: float | None = None) -> Any:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, not {value}")
        return float(value)

    def bool(self, name: str, default: object = _MISSING) -> Any:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {_kind(value)}")
        return value

    def path_(self, name: str, default: object = _MISSING) -> Any:
        """A file system path; relative paths are taken from the file's folder."""
        value = self.str(name, default)
        if value is default and default is not _MISSING:
            return value
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(value)))

    def list(self, name: str, default: object = _MISSING) -> list[Any]:
        value = self._get(name, default)
        if value is default and default is not _MISSING:
            return value  # type: ignore[return-value]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.error(name, f"must be a list, not {_kind(value)}")
        return value

    def str_list(self, name: str, default: object = _MISSING) -> list[str]:
        items = self.list(name, default)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise ConfigError(self.path, f"{self.key(name)}[{i}]",
                                  f"must be a non-empty string, not {_kind(item)}")
        return items

    def section(self, name: str, required: bool = False) -> Section:
        value = self._get(name, _MISSING if required else None)
        return Section(self.path, value, self.key(name))

    def sections(self, name: str) -> list[Section]:
        """A list of mappings."""
        return [Section(self.path, item, f"{self.key(name)}[{i}]")
                for i, item in enumerate(self.list(name, []))]

    def checked(self, name: str, value: T, check: Callable[[T], object]) -> T:
        """Run ``check``; turn its ValueError into a ConfigError for ``name``."""
        try:
            check(value)
        except ValueError as exc:
            raise self.error(name, str(exc)) from None
        return value

    def finish(self) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self._seen)
        if unknown:
            raise self.error(unknown[0], "unknown setting")


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if value else "an empty string"
    return repr(value)
