"""The manual pages: groff renders them without a warning, and they keep up with the code.

pop3d(8), popauth(8) and pop3d-stats(8) must document every option their
``--help`` prints; pop3d.yaml(5) every key the configuration loader accepts
(found by running the loader, not from a list kept here), and no key it
refuses.  Every page is installed by setup.cfg.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys

import pytest
import yaml
from support import ROOT, require_tool
from tls_kit import make_certificate

from pop3d.config import loader
from pop3d.config.reader import Section

MAN = os.path.join(ROOT, "man")
PAGES = ["pop3d.8", "pop3d.yaml.5", "popauth.8", "pop3d-stats.8", "pop3d-migrate.8"]
COMMANDS = {"pop3d.8": "pop3d", "popauth.8": "pop3d.popauth", "pop3d-stats.8": "pop3d.report",
            "pop3d-migrate.8": "pop3d.migrate"}


def render(page: str) -> list[str]:
    """The page as plain text, wide and unhyphenated, so every tag stays on one line."""
    groff = require_tool("groff")
    out = subprocess.run([groff, "-man", "-Tutf8", "-P-cbou", "-rLL=200n", "-rHY=0",
                          os.path.join(MAN, page)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()


def section(lines: list[str], title: str) -> list[str]:
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"[A-Z]", lines[i])), len(lines))
    return lines[start:end]


def tags(lines: list[str]) -> list[str]:
    """The first word of each tag line (``.TP``) of a section."""
    return [m[1] for line in lines if (m := re.match(r" {7}(\S+)", line))]


@pytest.mark.parametrize("page", PAGES)
def test_groff_renders_without_warnings(page):
    groff = require_tool("groff")
    result = subprocess.run([groff, "-man", "-ww", "-z", os.path.join(MAN, page)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def help_flags(module: str) -> set[str]:
    """Every option ``--help`` lists (both spellings of ``-h, --help``)."""
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    flags: set[str] = set()
    for line in out.splitlines():
        if m := re.match(r" {2}(-[^ ].*?)(?: {2,}|$)", line):
            flags.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", m[1]))
    assert flags, out
    return flags


@pytest.mark.parametrize("page", sorted(COMMANDS))
def test_every_help_flag_is_documented(page):
    flags = help_flags(COMMANDS[page])
    documented = {flag.rstrip(",") for line in section(render(page), "OPTIONS")
                  if re.match(r" {7}-", line) for flag in line.split() if flag.startswith("-")}
    assert flags - documented == set(), f"{page} OPTIONS lacks these flags of --help"


def test_pop3d_help_lists_what_the_test_expects():
    # The parsing above must see the short flags and --version, or the check above proves little.
    assert {"-c", "-T", "-d", "-s", "-t", "-i", "-h", "--help", "--version"} <= help_flags("pop3d")


@pytest.fixture
def accepted_keys(tmp_path, monkeypatch) -> set[str]:
    """The keys the loader asks for, as ``key`` and ``section.key`` (``users[].key`` for entries).

    Section.finish sees, for each mapping, every key that was asked for, so a
    configuration using every section shows the whole schema.
    """
    seen: set[str] = set()
    original = Section.finish

    def finish(self: Section) -> None:
        prefix = re.sub(r"\[\d+\]", "[]", self.prefix)
        seen.update(f"{prefix}.{k}" if prefix else k for k in self._seen)
        original(self)

    monkeypatch.setattr(Section, "finish", finish)
    cert = make_certificate(str(tmp_path))
    (tmp_path / "users.yaml").write_text("{}\n")
    config = {
        "users": [{"type": "virtual", "file": "users.yaml"}, {"type": "unix"}, {"type": "pam"}],
        "tls": cert.config(),
        "login_delay": {"seconds": 60},
        "run_as": {"user": "root"},
        "demo": {"source": str(tmp_path), "workdir": str(tmp_path / "demo")},
    }
    path = tmp_path / "pop3d.yaml"
    path.write_text(yaml.safe_dump(config))
    loader.load_config(str(path))
    return seen


def test_every_configuration_key_is_documented(accepted_keys):
    assert {"users", "listen", "limits", "limits.max_line", "users[].type", "tls.key"} <= accepted_keys
    documented = set(tags(section(render("pop3d.yaml.5"), "KEYS")))
    missing = accepted_keys - documented
    assert not missing, f"pop3d.yaml(5) KEYS does not describe {sorted(missing)}"
    top_level = {key for key in accepted_keys if "." not in key}
    assert top_level <= documented


def test_no_documented_key_is_refused(accepted_keys):
    documented = set(tags(section(render("pop3d.yaml.5"), "KEYS")))
    assert documented - accepted_keys == set(), "pop3d.yaml(5) describes keys the loader refuses"


def test_setup_installs_every_page():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    installed: dict[str, str] = {}
    for target, files in parser["options.data_files"].items():
        for name in files.split(","):
            if name.strip():
                installed[os.path.basename(name.strip())] = target
    assert installed == {page: f"share/man/man{page.rsplit('.', 1)[1]}" for page in PAGES}
    assert sorted(os.listdir(MAN)) == sorted(PAGES)
