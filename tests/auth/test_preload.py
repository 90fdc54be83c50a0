"""preload(): what is loaded on first use is loaded before root is given up (for good, or for a thread).

A server installed where its new identity cannot read (a root-only venv) failed
its first login with a hash scheme it had not used yet: passlib loads a
scheme's backend, and reads its package metadata, on first use.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = r'''
import importlib.metadata
import sys

from pop3d.auth import privileges, virtual

privileges.preload()


class NothingNew:
    def find_spec(self, name, path=None, target=None):
        raise ImportError(f"imported after preload: {name}")


def no_metadata(*args, **kwargs):
    raise PermissionError("package metadata read after preload")


sys.meta_path.insert(0, NothingNew())
importlib.metadata.distribution = importlib.metadata.version = no_metadata
for scheme in virtual.CONTEXT.schemes():
    handler = virtual.CONTEXT.handler(scheme)
    quick = handler.using(rounds=handler.min_rounds) if hasattr(handler, "min_rounds") else handler
    assert handler.verify("pw", quick.hash("pw")), scheme
for name in privileges.LAZY_MODULES:
    assert name in sys.modules, name
print("ok")
'''


def test_hash_schemes_and_maildrop_modules_need_no_file_after_preload():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
