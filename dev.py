#!/usr/bin/env python3
"""Set up and run pop3d from a checkout, with nothing but python3 installed.

    python3 dev.py serve   # install into .venv, run the demo server on 127.0.0.1:8110
    python3 dev.py test    # install test tools too (Debian packages as root), run all tests

Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PY = os.path.join(VENV, "bin", "python")
DEBIAN_PACKAGES = os.path.join(ROOT, "tests", "debian-packages.txt")


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def run(*cmd: str, **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def bootstrap_pip() -> None:
    """Install pip into a venv made --without-pip, from PyPI's pip wheel."""
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as resp:
        info = json.load(resp)
    wheel = next(u for u in info["urls"] if u["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, wheel["filename"])
        with urllib.request.urlopen(wheel["url"], timeout=120) as resp, open(path, "wb") as out:
            shutil.copyfileobj(resp, out)
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != wheel["digests"]["sha256"]:
                raise SystemExit("dev.py: the pip wheel from PyPI failed its checksum")
        run(PY, os.path.join(path, "pip"), "install", "-q", path)


def ensure_venv() -> None:
    if os.path.exists(PY) and subprocess.run([PY, "-m", "pip", "--version"],
                                             capture_output=True).returncode == 0:
        return
    say("creating .venv")
    if subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True).returncode != 0:
        # Debian without python3-venv has no ensurepip; fetch pip from PyPI instead.
        shutil.rmtree(VENV, ignore_errors=True)
        run(sys.executable, "-m", "venv", "--without-pip", VENV)
        bootstrap_pip()


def ensure_installed(extras: str) -> None:
    """pip install the project (editable) when setup.cfg changed since last time."""
    with open(os.path.join(ROOT, "setup.cfg"), "rb") as f:
        digest = hashlib.sha256(f.read() + extras.encode()).hexdigest()
    stamp = os.path.join(VENV, f".installed{extras}")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == digest:
                return
    say(f"installing pop3d{extras} into .venv")
    run(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{ROOT}{extras}")
    with open(stamp, "w") as f:
        f.write(digest)


def ensure_debian_packages() -> None:
    """Install the Debian packages the tests use (needs root; else say what is missing)."""
    if not os.path.exists(DEBIAN_PACKAGES) or not shutil.which("dpkg-query"):
        return
    with open(DEBIAN_PACKAGES) as f:
        wanted = [w for line in f if (w := line.split("#")[0].strip())]
    missing = [p for p in wanted if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout != "install ok installed"]
    if not missing:
        return
    if os.geteuid() != 0:
        say(f"not root: cannot install {' '.join(missing)}; tests that need them will be skipped")
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
    with services_not_started():
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env,
            stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def services_not_started():
    """Keep the packages' own daemons (haproxy, xinetd, exim, ...) from starting on install.

    The tests start every daemon they need themselves; a policy-rc.d that
    says 101 (action forbidden) is Debian's way, and containers often have one.
    """
    policy = "/usr/sbin/policy-rc.d"
    if os.path.exists(policy):
        yield
        return
    with open(policy, "w") as f:
        f.write("#!/bin/sh\n# written by pop3d's dev.py for the duration of apt-get install\nexit 101\n")
    os.chmod(policy, 0o755)
    try:
        yield
    finally:
        os.unlink(policy)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "help"
    if command == "serve":
        ensure_venv()
        ensure_installed("")
        say("serving the demo on 127.0.0.1:8110 (users alice/alice-demo, bob/bob-demo); Ctrl-C stops")
        os.execv(PY, [PY, "-m", "pop3d", "-c", os.path.join(ROOT, "conf", "pop3d.yaml"), *argv[2:]])
    if command == "test":
        ensure_venv()
        ensure_installed("[test]")
        ensure_debian_packages()
        run(PY, "-m", "ruff", "check", "--quiet", "pop3d", "tests", "bench", "dev.py", cwd=ROOT)
        return subprocess.run([PY, "-m", "pytest", "-q", *argv[2:]], cwd=ROOT).returncode
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
