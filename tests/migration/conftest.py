"""Fixtures of the migration tests."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture
def shared_dir():
    """A folder other users can reach (pytest's tmp_path is root's alone): Dovecot's mail
    and auth processes run as ``mail`` and ``dovecot`` and must read what the test writes."""
    path = tempfile.mkdtemp(prefix="pop3d-migration-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
