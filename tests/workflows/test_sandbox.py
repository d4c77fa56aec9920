"""The worker's sandbox passes shared helpers through but still reloads and polices workflow code."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import billflow.payments
import workflows.common
from tests.workflows.sandbox_probe import ClockProbe, ImportProbe
from workflows.sandbox import PASSTHROUGH, compile_workflow_modules, sandboxed_runner


async def test_helpers_pass_through_and_workflow_modules_reload(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[ImportProbe], workflow_runner=sandboxed_runner()
    ):
        seen = await ts_env.client.execute_workflow(
            ImportProbe.run,
            id=f"probe/{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=20),
        )
    # Passed through: the run uses the worker's own objects, built once.
    assert seen["billflow.payments"] == id(billflow.payments.PaymentState)
    assert seen["workflows.common"] == id(workflows.common.set_status)
    # The workflow's own module is a fresh copy per run.
    assert seen["probe_module"] != id(sys.modules["tests.workflows.sandbox_probe"])


async def test_workflow_code_is_still_policed(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[ClockProbe], workflow_runner=sandboxed_runner()
    ):
        handle = await ts_env.client.start_workflow(
            ClockProbe.run,
            id=f"clock/{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=3),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()  # the task fails on the restricted call until the run times out


def test_workflow_modules_are_never_passed_through() -> None:
    """Passing a workflow module through would switch off the sandbox's checks for its code."""
    assert "workflows" not in PASSTHROUGH
    assert all(not name.startswith("workflows.") or name == "workflows.common" for name in PASSTHROUGH)


def test_workflow_bytecode_is_written() -> None:
    source = Path(workflows.common.__file__).with_name("payment.py")
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)
    compile_workflow_modules()
    assert cached.exists()
