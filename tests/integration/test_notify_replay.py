"""Recorded NotifyMerchantWorkflow histories still replay: a change that would break running
notifications (reordered or removed steps) fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.notify import NotifyMerchantWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("notify_merchant_*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("notify", path.read_text())
    replayer = Replayer(workflows=[NotifyMerchantWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_there_is_a_history_to_replay() -> None:
    assert HISTORIES
