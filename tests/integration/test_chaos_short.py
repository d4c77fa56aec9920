"""The short chaos run: crashes and Stripe faults must leave zero money violations, in every flow type."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness.billing_flows import MIX

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_short_chaos_run_has_no_violations() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short", "--seed", "11"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    report = "\n".join(
        line for line in proc.stdout.splitlines() if not line.startswith(" ") or "VIOLATION" in line
    )
    assert proc.returncode == 0, f"chaos run failed:\n{report}\n{proc.stderr[-3000:]}"
    assert "violations = 0" in proc.stdout
    assert "worker SIGKILLs=0" not in proc.stdout  # the chaos really happened
    assert "refusing 20%" in proc.stdout  # the merchant refused a fifth of the notifications
    finished = {
        kind: (int(done), int(planned))
        for kind, done, planned in re.findall(r"(\w+)=(\d+)/(\d+)", proc.stdout)
    }
    assert set(finished) == set(MIX), report  # every flow type ran ...
    assert all(done == planned for done, planned in finished.values()), report  # ... and finished
