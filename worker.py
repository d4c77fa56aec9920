"""The billflow worker: registers every workflow and activity and polls the task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import prometheus_client
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkflowRunner

from activities.registry import Deps, all_activities
from billflow.config import Settings, get_settings
from starter.client import connect
from workflows.registry import WORKFLOWS
from workflows.sandbox import sandboxed_runner

log = logging.getLogger("billflow.worker")


def build_worker(
    client: Client,
    deps: Deps,
    task_queue: str | None = None,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    workflow_runner: WorkflowRunner | None = None,
) -> Worker:
    """A worker for `task_queue` (default: the configured one) with everything registered.

    The extras (and another runner) let benchmarks run their baselines in exactly this worker.
    """
    return Worker(
        client,
        task_queue=task_queue or deps.settings.temporal_task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[*all_activities(deps), *extra_activities],
        # Ledger activities are synchronous SQLAlchemy calls; they run on this pool.
        activity_executor=ThreadPoolExecutor(max_workers=32),
        workflow_runner=workflow_runner or sandboxed_runner(),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings | None = None, client: Client | None = None) -> None:
    """Run until SIGTERM or SIGINT, then finish in-flight tasks and stop."""
    settings = settings or get_settings()
    if client is None:
        runtime = None
        if settings.metrics_port:
            # Temporal SDK metrics on metrics_port, billflow's own on the next port.
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    metrics=PrometheusConfig(bind_address=f"127.0.0.1:{settings.metrics_port}")
                )
            )
            prometheus_client.start_http_server(settings.metrics_port + 1, addr="127.0.0.1")
        client = await connect(settings, runtime=runtime)
    deps = Deps.build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, deps)
    log.info("worker polling %s on %s", settings.temporal_task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    deps.ledger.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Every Stripe call would otherwise log two INFO lines; failures surface through Temporal.
    for noisy in ("httpx", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(run())


if __name__ == "__main__":
    main()
