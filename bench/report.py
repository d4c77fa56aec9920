"""The one-line machine-readable result every benchmark prints last, so `make bench` can tabulate."""

from __future__ import annotations

import json
import sys
from typing import Any

PREFIX = "RESULT "


def emit(name: str, figures: dict[str, Any]) -> None:
    """Print `RESULT {"bench": name, ...}` after the human-readable output."""
    sys.stdout.write(PREFIX + json.dumps({"bench": name, **figures}, default=str) + "\n")
    sys.stdout.flush()


def parse(output: str) -> list[dict[str, Any]]:
    return [json.loads(line[len(PREFIX) :]) for line in output.splitlines() if line.startswith(PREFIX)]
