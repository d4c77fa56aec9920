"""ReconcileWorkflow: on a schedule, compare the ledger with Stripe and sweep for stuck runs."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

from billflow.policies import LEDGER_WRITE, STRIPE_READ
from workflows.common import set_status, static_details

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import (
        MerchantReport,
        ReconcileActivities,
        ReconcileMerchantInput,
        SweepInput,
        SweepReport,
    )

SCHEDULE_ID = "billflow-reconcile"


class ReconcileInput(BaseModel):
    merchant_ids: list[str] | None = None  # None: every merchant with Stripe credentials
    settle_seconds: int = 300
    stuck_after_seconds: int = 2 * 3600


def reconcile_details(data: ReconcileInput) -> str:
    """The run's key facts for the UI (imported by the starters; runs outside the sandbox too)."""
    merchants = (
        ", ".join(data.merchant_ids) if data.merchant_ids else "every merchant with Stripe credentials"
    )
    return static_details(
        ("Merchants", merchants),
        ("Compares", "payment intents, refunds, invoices, subscriptions with the ledger"),
        ("Ignores objects younger than", f"{data.settle_seconds} s"),
        ("Stuck after", f"{data.stuck_after_seconds} s past a deadline"),
        ("Changes money", "never (it reports and records differences)"),
    )


class ReconcileResult(BaseModel):
    run_key: str
    reports: list[MerchantReport]
    sweep: SweepReport

    @property
    def difference_count(self) -> int:
        return sum(len(r.differences) for r in self.reports) + len(self.sweep.stuck)


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, data: ReconcileInput) -> ReconcileResult:
        info = workflow.info()
        run_key = f"{info.workflow_id}/{info.run_id}"
        set_status("reconciling")
        merchants = data.merchant_ids
        if merchants is None:
            merchants = await workflow.execute_activity_method(
                ReconcileActivities.list_merchants, summary="list merchants", **LEDGER_WRITE.kwargs()
            )
        reports = []
        for merchant_id in merchants:
            reports.append(
                await workflow.execute_activity_method(
                    ReconcileActivities.reconcile_merchant,
                    ReconcileMerchantInput(
                        merchant_id=merchant_id, run_key=run_key, settle_seconds=data.settle_seconds
                    ),
                    summary=f"reconcile {merchant_id}",
                    start_to_close_timeout=timedelta(minutes=10),
                    schedule_to_close_timeout=timedelta(hours=1),
                    retry_policy=STRIPE_READ.retry,
                )
            )
        sweep = await workflow.execute_activity_method(
            ReconcileActivities.sweep_stuck_runs,
            SweepInput(run_key=run_key, stuck_after_seconds=data.stuck_after_seconds),
            summary="sweep stuck runs",
            **LEDGER_WRITE.kwargs(),
        )
        result = ReconcileResult(run_key=run_key, reports=reports, sweep=sweep)
        set_status("differences_found" if result.difference_count else "clean")
        return result
