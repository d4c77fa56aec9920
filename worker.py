"""The billflow worker: registers every workflow and activity and polls the task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import Deps, all_activities
from billflow.config import Settings, get_settings
from starter.client import connect
from workflows.registry import WORKFLOWS

log = logging.getLogger("billflow.worker")


def build_worker(client: Client, deps: Deps, task_queue: str | None = None) -> Worker:
    """A worker for `task_queue` (default: the configured one) with everything registered."""
    return Worker(
        client,
        task_queue=task_queue or deps.settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=all_activities(deps),
        # Ledger activities are synchronous SQLAlchemy calls; they run on this pool.
        activity_executor=ThreadPoolExecutor(max_workers=32),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings | None = None, client: Client | None = None) -> None:
    """Run until SIGTERM or SIGINT, then finish in-flight tasks and stop."""
    settings = settings or get_settings()
    client = client or await connect(settings)
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
    asyncio.run(run())


if __name__ == "__main__":
    main()
