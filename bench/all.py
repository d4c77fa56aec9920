"""`make bench`: run every benchmark once and print one table with the figures, ratios and machine.

.venv/bin/python -m bench.all
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.report import parse

ROOT = Path(__file__).resolve().parent.parent
BENCHES: list[tuple[str, list[str]]] = [
    ("emulator load", ["-m", "bench.emulator_load", "--requests", "20000"]),
    # The ingestion path alone (workflows take their signals once the burst is over, as a worker
    # fleet on other machines would), then with the workflows' worker on the same two cores.
    ("webhook ingestion", ["-m", "bench.webhook_ingest", "--worker", "after"]),
    ("webhook ingestion + workflows", ["-m", "bench.webhook_ingest", "--worker", "during"]),
    ("payments end to end", ["-m", "bench.payments"]),
    ("ten-year subscription", ["-m", "bench.subscription_timeskip"]),
    # Stripe's test-mode limit (25/s) is above what the whole stack produces on two cores (2-8
    # payments/s here): the calls-only run loads the limiter at 25/s without the workflows, and the
    # last burst runs end to end against 2/s, where the limiter, not the machine, sets the pace.
    ("rate-limited burst, 25/s", ["-m", "bench.rate_limit"]),
    ("Stripe calls only, 2 processes, 25/s", ["-m", "bench.rate_limit", "--calls-only"]),
    ("rate-limited burst, 2/s", ["-m", "bench.rate_limit", "--limit", "2", "--payments", "120"]),
]


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    console = Console()
    table = Table(title=f"billflow benchmarks ({machine()})")
    for column in ("benchmark", "figure", "value", "seconds"):
        table.add_column(column)
    failures = 0
    for title, argv in BENCHES:
        if not (ROOT / (argv[1].replace(".", "/") + ".py")).exists():
            table.add_row(title, "not available", "", "")
            continue
        console.print(f"running {title}: {' '.join(argv)}")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=1800)
        took = f"{time.monotonic() - started:.0f}"
        results = parse(proc.stdout)
        if proc.returncode or not results:
            failures += 1
            table.add_row(title, f"FAILED (exit {proc.returncode})", proc.stderr.strip()[-200:], took)
            continue
        for result in results:
            for key, value in result.items():
                if key != "bench":
                    shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
                    table.add_row(title, key, shown, took)
                    title, took = "", ""
    console.print(table)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
