"""The one error a bad configuration produces."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, told in one line: file, key, what is wrong."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.path = path
        self.key = key
        self.problem = problem
