#!/usr/bin/env python3
"""Set up and run pop3d from a checkout, with nothing but python3 installed.

    python3 dev.py serve     # install into .venv, run the demo server on 127.0.0.1:8110
    python3 dev.py test      # install test tools too (Debian packages as root), run all tests
    python3 dev.py install   # production, as root: a venv in /opt/pop3d, links, units (--help)
    python3 dev.py uninstall # remove what install put in place; /etc/pop3d and /var/lib/pop3d stay

Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PY = os.path.join(VENV, "bin", "python")
DEBIAN_PACKAGES = os.path.join(ROOT, "tests", "debian-packages.txt")


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def run(*cmd: str, **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def venv_module_missing() -> str | None:
    """The Debian package that gives this Python ``venv`` with ``ensurepip``, if it lacks one."""
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        return f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
    return None


def make_venv(path: str) -> None:
    """A venv with pip from this Python's own ensurepip; no package index is asked for pip itself.

    Debian ships ensurepip apart, in python3.X-venv: as root it is installed
    with apt-get, otherwise one line says what to install.
    """
    package = venv_module_missing()
    if package is not None:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit(f"dev.py: this Python has no ensurepip; install {package} "
                             f"(as root: apt-get install {package}) and run dev.py again")
        say(f"this Python has no ensurepip: installing {package}")
        apt_install([package])
    shutil.rmtree(path, ignore_errors=True)
    run(sys.executable, "-m", "venv", path)


def venv_works(python: str) -> bool:
    return os.path.exists(python) and subprocess.run([python, "-m", "pip", "--version"],
                                                     capture_output=True).returncode == 0


def ensure_venv() -> None:
    if venv_works(PY):
        return
    say("creating .venv")
    make_venv(VENV)


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
    apt_install(missing)


def apt_install(packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
    with services_not_started():
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env,
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


# -- install: production, as root, beside the system Python -------------------------

#: What install writes (and uninstall removes), each overridable; --root puts the defaults under a folder.
INSTALL_PATHS = {
    "prefix": ("/opt/pop3d", "the venv pop3d is installed into"),
    "bin_dir": ("/usr/local/sbin", "where pop3d, popauth, pop3d-stats and pop3d-migrate are linked"),
    "man_dir": ("/usr/local/share/man", "manual pages (man8/, man5/)"),
    "etc_dir": ("/etc/pop3d", "pop3d.yaml (written only if missing) and pop3d.yaml.sample"),
    "unit_dir": ("/etc/systemd/system", "pop3d.service, pop3d.socket, pop3s.socket"),
    "xinetd_dir": ("/etc/xinetd.d", "the xinetd service pop3d (disabled; written only if missing)"),
    "logwatch_dir": ("/etc/logwatch", "logwatch's service pop3d (conf/ and scripts/)"),
    "state_dir": ("/var/lib/pop3d", "the databases pop3d processes share"),
}
PROGRAMS = ("pop3d", "popauth", "pop3d-stats", "pop3d-migrate")
UNITS = ("pop3d.service", "pop3d.socket", "pop3s.socket")
LOGWATCH_FILES = (os.path.join("conf", "services", "pop3d.conf"),
                  os.path.join("scripts", "services", "pop3d"))
#: First line of every file install writes from a template, so uninstall knows its own.
INSTALLED_MARK = "# Installed by pop3d's dev.py install; uninstall removes it.\n"


def install_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python3 dev.py {argv[0]}", description=(
        "Install pop3d for production (as root; the system Python is not touched), or remove it."))
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="put every default path below under DIR (tests, chroots)")
    for name, (default, text) in INSTALL_PATHS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, metavar="DIR",
                            help=f"{text} (default {default})")
    options = parser.parse_args(argv[1:])
    for name, (default, _text) in INSTALL_PATHS.items():
        if getattr(options, name) is None:
            setattr(options, name, os.path.join(options.root, default.lstrip("/")))
        setattr(options, name, os.path.abspath(getattr(options, name)))
    return options


def installed_text(text: str, paths: argparse.Namespace, mark: bool) -> str:
    """A shipped template with the installed paths in place of the packaged ones."""
    text = text.replace("/usr/bin/pop3d", os.path.join(paths.bin_dir, "pop3d"))
    text = text.replace("/etc/pop3d/", paths.etc_dir + "/").replace("/var/lib/pop3d", paths.state_dir)
    return INSTALLED_MARK + text if mark else text


def write_file(path: str, text: str, mode: int = 0o644, keep: bool = False) -> None:
    """Write ``path`` atomically; with ``keep``, an existing file (the admin's) stays as it is."""
    if keep and os.path.lexists(path):
        say(f"kept {path}")
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.dev-py-tmp"
    with open(temp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temp, mode)
    os.replace(temp, path)


def from_template(source: str, target: str, paths: argparse.Namespace, keep: bool = False,
                  mode: int = 0o644, mark: bool = True) -> None:
    """``mark``: uninstall may remove the file (not the admin's pop3d.yaml)."""
    with open(os.path.join(ROOT, source)) as f:
        write_file(target, installed_text(f.read(), paths, mark), mode, keep)


def refuse_foreign_programs(paths: argparse.Namespace) -> None:
    """Never replace a pop3d that is not a link (another package's, or the admin's)."""
    for program in PROGRAMS:
        name = os.path.join(paths.bin_dir, program)
        if os.path.lexists(name) and not os.path.islink(name):
            raise SystemExit(f"dev.py: {name} exists and is not a link; move it away and run install again")


def link(target: str, name: str) -> None:
    os.makedirs(os.path.dirname(name), exist_ok=True)
    temp = f"{name}.dev-py-tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
    os.symlink(target, temp)
    os.replace(temp, name)


def man_pages() -> list[tuple[str, str]]:
    """(file in man/, section folder) for every page."""
    return [(name, "man" + name.rsplit(".", 1)[1]) for name in sorted(os.listdir(os.path.join(ROOT, "man")))
            if name.rsplit(".", 1)[-1].isdigit()]


def install(argv: list[str]) -> int:
    """Install (or upgrade in place) pop3d into a venv; link, configure and document it."""
    paths = install_options(argv)
    refuse_foreign_programs(paths)
    python = os.path.join(paths.prefix, "bin", "python")
    if not venv_works(python):
        say(f"creating the venv {paths.prefix}")
        make_venv(paths.prefix)
    say(f"installing pop3d from {ROOT} into {paths.prefix}")
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", ROOT)
    for program in PROGRAMS:
        link(os.path.join(paths.prefix, "bin", program), os.path.join(paths.bin_dir, program))
    for name, section in man_pages():
        with open(os.path.join(ROOT, "man", name)) as f:
            write_file(os.path.join(paths.man_dir, section, name), f.read())
    from_template(os.path.join("conf", "production.yaml"), os.path.join(paths.etc_dir, "pop3d.yaml.sample"),
                  paths)
    from_template(os.path.join("conf", "production.yaml"), os.path.join(paths.etc_dir, "pop3d.yaml"),
                  paths, keep=True, mark=False)
    for unit in UNITS:
        from_template(os.path.join("conf", unit), os.path.join(paths.unit_dir, unit), paths)
    from_template(os.path.join("conf", "xinetd.d", "pop3d"), os.path.join(paths.xinetd_dir, "pop3d"),
                  paths, keep=True)
    for name in LOGWATCH_FILES:
        from_template(os.path.join("conf", "logwatch", name), os.path.join(paths.logwatch_dir, name), paths)
    os.makedirs(paths.state_dir, mode=0o755, exist_ok=True)
    if paths.root == "/" and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    say(f"installed: {', '.join(os.path.join(paths.bin_dir, p) for p in PROGRAMS)}; "
        f"next: edit {paths.etc_dir}/pop3d.yaml, pop3d --check-config, then "
        "systemctl enable --now pop3d.socket (or xinetd, see pop3d(8))")
    return 0


def uninstall(argv: list[str]) -> int:
    """Remove what install put in place; the configuration and the databases stay."""
    paths = install_options(argv)
    for program in PROGRAMS:
        name = os.path.join(paths.bin_dir, program)
        if os.path.islink(name) and os.readlink(name).startswith(paths.prefix + os.sep):
            os.unlink(name)
    ours = [os.path.join(paths.unit_dir, unit) for unit in UNITS]
    ours += [os.path.join(paths.xinetd_dir, "pop3d"), os.path.join(paths.etc_dir, "pop3d.yaml.sample")]
    ours += [os.path.join(paths.logwatch_dir, name) for name in LOGWATCH_FILES]
    for name in ours:
        with contextlib.suppress(FileNotFoundError), open(name) as f:
            if f.readline() == INSTALLED_MARK:
                os.unlink(name)
    for name, section in man_pages():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(paths.man_dir, section, name))
    shutil.rmtree(paths.prefix, ignore_errors=True)
    say(f"removed pop3d; kept {paths.etc_dir} and {paths.state_dir} (remove them by hand if unwanted)")
    return 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "help"
    if command == "serve":
        ensure_venv()
        ensure_installed("")
        say("serving the demo on 127.0.0.1:8110 (users alice/alice-demo, bob/bob-demo; APOP secrets "
            "alice-apop, bob-apop); Ctrl-C stops")
        os.execv(PY, [PY, "-m", "pop3d", "-c", os.path.join(ROOT, "conf", "pop3d.yaml"), *argv[2:]])
    if command == "test":
        ensure_venv()
        ensure_installed("[test]")
        ensure_debian_packages()
        run(PY, "-m", "ruff", "check", "--quiet", "pop3d", "tests", "bench", "dev.py", cwd=ROOT)
        return subprocess.run([PY, "-m", "pytest", "-q", *argv[2:]], cwd=ROOT).returncode
    if command == "install":
        return install(argv[1:])
    if command == "uninstall":
        return uninstall(argv[1:])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
