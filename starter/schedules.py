"""Temporal Schedules billflow relies on, created idempotently by set-up and the local stack."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from workflows.common import start_attributes
from workflows.reconcile import SCHEDULE_ID, ReconcileInput, ReconcileWorkflow, reconcile_details


async def ensure_reconcile_schedule(
    client: Client, task_queue: str, every: timedelta = timedelta(hours=1)
) -> bool:
    """Create the hourly reconciliation schedule unless it exists; True when created."""
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconcileWorkflow.run,
                    ReconcileInput(),
                    id="reconcile/scheduled",
                    task_queue=task_queue,
                    typed_search_attributes=start_attributes("reconcile", "scheduled", "all"),
                    static_summary="Reconcile the ledger with Stripe and sweep stuck runs",
                    static_details=reconcile_details(ReconcileInput()),
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    return True
