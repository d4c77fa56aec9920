"""`billflow reconcile`: run one reconciliation now and print what differs."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table
from temporalio.service import RPCError

from billflow.config import get_settings
from starter.cli import app, console, fail, run_async
from starter.client import connect
from workflows.common import start_attributes
from workflows.reconcile import ReconcileInput, ReconcileResult, ReconcileWorkflow, reconcile_details


@app.command("reconcile")
def reconcile(
    merchant: Annotated[list[str] | None, typer.Option(help="merchant id (repeatable); default all")] = None,
    settle_seconds: Annotated[int, typer.Option(min=0, help="skip objects changed this recently")] = 300,
) -> None:
    """Compare the ledger with Stripe now (the schedule does it hourly); exit 1 if anything differs."""
    settings = get_settings()

    async def _run() -> ReconcileResult:
        client = await connect(settings)
        data = ReconcileInput(merchant_ids=merchant, settle_seconds=settle_seconds)
        return await client.execute_workflow(
            ReconcileWorkflow.run,
            data,
            id=f"reconcile/manual/{uuid.uuid4().hex[:12]}",
            task_queue=settings.temporal_task_queue,
            search_attributes=start_attributes("reconcile", "started", "all"),
            static_summary="Reconcile the ledger with Stripe (manual run)",
            static_details=reconcile_details(data),
        )

    try:
        result = run_async(_run())
    except (RPCError, RuntimeError) as exc:
        raise fail(f"reconciliation could not run: {exc}") from None
    table = Table(title=f"reconciliation {result.run_key}")
    for column in ("merchant", "object", "id", "field", "ledger", "stripe"):
        table.add_column(column)
    for report in result.reports:
        for d in report.differences:
            table.add_row(
                report.merchant_id,
                d.object_type,
                d.object_id,
                d.field,
                d.ledger_value or "",
                d.stripe_value or "",
            )
    console.print(table)
    checked = sum(sum(r.checked.values()) for r in result.reports)
    console.print(
        f"{checked} Stripe objects checked, {result.difference_count} differences, "
        f"{len(result.sweep.woken)} stuck runs woken, {len(result.sweep.stuck)} stuck without a run"
    )
    if result.difference_count:
        raise typer.Exit(1)
