"""Recorded histories under tests/histories/: how they are written and read."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowHistory

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORD = os.environ.get("BILLFLOW_RECORD_HISTORIES") == "1"


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Save a finished run's history as tests/histories/<name>.json when BILLFLOW_RECORD_HISTORIES=1.

    Flow tests call this at the end of each path, so re-recording is one command:
    `BILLFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows`.
    """
    if not RECORD:
        return
    if not re.fullmatch(r"[a-z0-9_\-]+", name):
        raise ValueError(f"history name {name!r} must be lowercase letters, digits, - and _")
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    # Workflows derive child ids and keys from their own id, so replay needs the original one.
    (HISTORIES / f"{name}.workflow_id").write_text(handle.id + "\n")


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    id_file = path.with_suffix(".workflow_id")
    workflow_id = id_file.read_text().strip() if id_file.exists() else path.stem
    return WorkflowHistory.from_json(workflow_id, path.read_text())
