"""Wall time of a ten-year monthly subscription (1 first charge + 120 renewals) under time skipping.

    .venv/bin/python bench/subscription_timeskip.py [--periods 121] [--runner default|passthrough|unsandboxed]

Runs the real SubscriptionWorkflow on the time-skipping test server against the in-memory Stripe
model of the workflow tests, and prints the wall time, runs and largest run history. `--runner`
compares the default sandbox (what worker.py uses), a sandbox passing every module through, and no
sandbox: each continue-as-new run re-imports the workflow module into a fresh sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.report import emit
from billflow.local_temporal import start_time_skipping
from tests.workflows.subscription_fakes import FakeStripe, fake_worker
from tests.workflows.test_subscription import run_event_counts
from workflows.subscription import SubscriptionInput, SubscriptionWorkflow


async def main(periods: int, runner_name: str) -> None:
    env = await start_time_skipping()
    stripe, task_queue = FakeStripe(), f"bench-{uuid.uuid4().hex[:8]}"
    data = SubscriptionInput(
        merchant_id="m_bench",
        user_id="u_bench",
        amount_minor=1500,
        currency="usd",
        payment_method_id="pm_card_visa",
        cancel_after_periods=periods,
    )
    runner: WorkflowRunner | None = {
        "default": None,
        "passthrough": SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        ),
        "unsandboxed": UnsandboxedWorkflowRunner(),
    }[runner_name]
    async with fake_worker(env.client, task_queue, stripe, runner):
        started = time.perf_counter()
        handle = await env.client.start_workflow(
            SubscriptionWorkflow.run,
            data,
            id=f"subscription/bench/{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        result = await handle.result()
        wall = time.perf_counter() - started
        counts = await run_event_counts(handle)
    await env.shutdown()
    print(f"runner:              {runner_name}")
    print(f"periods paid:        {result.periods_paid} ({result.status})")
    print(
        f"wall time:           {wall:.2f} s ({wall / max(result.periods_paid, 1) * 1000:.0f} ms per period)"
    )
    print(f"runs:                {len(counts)}")
    print(f"largest run history: {max(counts)} events (mean {sum(counts) / len(counts):.0f})")
    emit(
        "subscription_timeskip",
        {
            "runner": runner_name,
            "periods": result.periods_paid,
            "wall_s": round(wall, 2),
            "largest_history": max(counts),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=121)
    parser.add_argument("--runner", choices=["default", "passthrough", "unsandboxed"], default="default")
    args = parser.parse_args()
    asyncio.run(main(args.periods, args.runner))
