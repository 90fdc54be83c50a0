"""Fixtures shared by the test suite (helpers live in support.py)."""

from __future__ import annotations

import pytest
from support import running_server


@pytest.fixture
def make_server(tmp_path):
    """Start a pop3d with given users; stopped at the end of the test."""
    stack = []

    def start(users, extra=None, args=None):
        cm = running_server(str(tmp_path), users, extra, args)
        server = cm.__enter__()
        stack.append(cm)
        return server

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
