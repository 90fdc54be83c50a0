"""dev.py itself: a venv from the interpreter's own ensurepip, never pip fetched from a registry."""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import pytest
from support import ROOT


@pytest.fixture
def dev():
    spec = importlib.util.spec_from_file_location("dev_py", os.path.join(ROOT, "dev.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_py_names_no_address_to_fetch_from():
    """It downloaded pip's wheel from a registry's JSON API when the venv had no pip."""
    with open(os.path.join(ROOT, "dev.py")) as f:
        text = f.read()
    assert not re.search(r"\b(https?|ftp)://", text)
    assert "urllib" not in text


def test_without_ensurepip_and_not_root_one_line_says_what_to_install(dev, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ensurepip", None)  # as on Debian without python3.X-venv
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as exc:
        dev.make_venv(str(tmp_path / "venv"))
    package = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
    assert str(exc.value) == (f"dev.py: this Python has no ensurepip; install {package} "
                              f"(as root: apt-get install {package}) and run dev.py again")
    assert not (tmp_path / "venv").exists()


def test_without_ensurepip_as_root_apt_installs_the_matching_venv_package(dev, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ensurepip", None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(dev.shutil, "which", lambda name: "/usr/bin/apt-get")
    installed, ran = [], []
    monkeypatch.setattr(dev, "apt_install", installed.extend)
    monkeypatch.setattr(dev, "run", lambda *cmd, **kw: ran.append(cmd))
    dev.make_venv(str(tmp_path / "venv"))
    assert installed == [f"python{sys.version_info.major}.{sys.version_info.minor}-venv"]
    assert ran == [(sys.executable, "-m", "venv", str(tmp_path / "venv"))]
