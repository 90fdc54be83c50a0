"""The pop3d-vs-Dovecot benchmark's ``--quick`` mode runs end to end (CI's cheap smoke run of it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "pop3_vs_dovecot.py"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dovecot") is None, reason="needs Debian's dovecot-pop3d")
@pytest.mark.skipif(os.geteuid() != 0, reason="Dovecot serves mail as user mail: needs root")
def test_quick_benchmark_prints_every_row_for_both_servers() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                            timeout=600, cwd=BENCH.parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("  ")[0].strip(): line.split() for line in result.stdout.splitlines()[2:]}
    for row in ("poll sessions/s", "RETR big Maildir MB/s", "RETR big mbox MB/s", "1000x4K pipelined msgs/s",
                "md100k list cold s", "md100k list warm s", "mb100k list cold s", "mb100k list warm s"):
        assert row in rows, result.stdout
        figures = [float(x.rstrip("*")) for x in rows[row][len(row.split()):len(row.split()) + 2]]
        assert all(f > 0 for f in figures), rows[row]
