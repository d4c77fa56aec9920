"""Every recorded history replays against today's workflow code, so a change that would break
running workflows fails CI; and removing a `workflow.patched` branch is shown to break replay."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from tests.replay.history_files import load, recorded
from tests.replay.patched_workflows import Original, WithPatch, step
from workflows.registry import WORKFLOWS


def test_there_are_recorded_histories() -> None:
    assert recorded(), "tests/histories/ holds no recorded histories"


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


async def test_removing_a_patch_breaks_replay(ts_env: WorkflowEnvironment) -> None:
    task_queue = f"tq-{uuid.uuid4().hex}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[Original], activities=[step]):
        old = await ts_env.client.start_workflow(
            Original.run, id=f"patched-{uuid.uuid4()}", task_queue=task_queue
        )
        await old.result()
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[WithPatch], activities=[step]):
        new = await ts_env.client.start_workflow(
            WithPatch.run, id=f"patched-{uuid.uuid4()}", task_queue=task_queue
        )
        await new.result()
    old_history = await old.fetch_history()
    new_history = await new.fetch_history()

    # The patch is what lets new code replay old runs ...
    await Replayer(workflows=[WithPatch]).replay_workflow(old_history)
    await Replayer(workflows=[WithPatch]).replay_workflow(new_history)
    # ... and dropping it while runs that took the patched branch still exist breaks them.
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[Original]).replay_workflow(new_history)
