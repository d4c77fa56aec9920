"""The hello workflow runs through the real worker wiring on both Temporal servers."""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from billflow.config import Settings
from tests.replay.history_files import record_history
from worker import build_worker
from workflows.hello import HelloInput, HelloWorkflow


async def test_hello_runs_through_worker(
    any_env: WorkflowEnvironment, task_queue: str, sqlite_url: str
) -> None:
    env = any_env
    deps = Deps.build(Settings(database_url=sqlite_url))
    async with build_worker(env.client, deps, task_queue=task_queue):
        handle = await env.client.start_workflow(
            HelloWorkflow.run, HelloInput(name="Ada"), id=f"hello/{uuid.uuid4()}", task_queue=task_queue
        )
        result = await handle.result()
    assert result.greeting == "Hello, Ada!"
    await record_history(handle, "hello")
