"""Reconciliation: read Stripe and the ledger, record every difference, wake stuck runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.deps import Deps
from activities.stripe_errors import stripe_errors
from billflow.ledger import Invoice, Merchant, Payment, ReconciliationDifference, Refund, Subscription
from billflow.ledger.db import upsert
from billflow.reconcile import (
    Difference,
    LedgerPaymentView,
    StatusView,
    StripeIntentView,
    compare_payments,
    compare_statuses,
)
from billflow.signals import STRIPE_EVENT, StripeEventSignal

STRIPE_SUBSCRIPTION_STATUSES = frozenset(
    {"incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"}
)
SETTLED_REFUND = frozenset({"succeeded", "failed"})
STUCK_PAYMENT = ("processing", "pending")


class ReconcileMerchantInput(BaseModel):
    merchant_id: str
    run_key: str
    settle_seconds: int = 300


class MerchantReport(BaseModel):
    merchant_id: str
    checked: dict[str, int]
    differences: list[Difference]


class SweepInput(BaseModel):
    run_key: str
    stuck_after_seconds: int


class SweepReport(BaseModel):
    woken: list[str]
    stuck: list[str]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refunded(charge: Any) -> int:
    """Money actually refunded: on a partial capture Stripe also counts the released,
    never-captured remainder in `amount_refunded`, which is not a refund."""
    released = int(charge.amount or 0) - int(charge.amount_captured or 0) if charge.captured else 0
    return max(0, int(charge.amount_refunded or 0) - released)


class ReconcileActivities:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    @activity.defn(name="list_merchants")
    def list_merchants(self) -> list[str]:
        """Merchants with Stripe credentials: the ones there is something to reconcile for."""
        with self._deps.ledger.session() as session:
            return list(
                session.scalars(select(Merchant.id).where(Merchant.stripe_secret_key_enc.is_not(None)))
            )

    async def _stripe_intents(self, merchant_id: str, before: int) -> list[StripeIntentView]:
        client = await self._deps.stripe.for_merchant(merchant_id)
        views = []
        with stripe_errors("list_payment_intents"):
            page = await client.v1.payment_intents.list_async(
                params={"limit": 100, "expand": ["data.latest_charge"]}
            )
            async for pi in page.auto_paging_iter():
                if pi.created > before:
                    continue
                charge: Any = pi.latest_charge
                refunded = _refunded(charge) if charge and not isinstance(charge, str) else 0
                metadata = pi.metadata.to_dict() if pi.metadata else {}
                views.append(
                    StripeIntentView(
                        intent_id=pi.id,
                        status=pi.status,
                        amount=pi.amount,
                        amount_received=pi.amount_received or 0,
                        refunded=refunded,
                        currency=pi.currency,
                        workflow_id=metadata.get("workflow_id"),
                    )
                )
        return views

    async def _stripe_statuses(self, merchant_id: str, kind: str) -> list[StatusView]:
        """Every refund, invoice or subscription at Stripe. Not cut off by `created`: only ledger rows
        are compared (each ledger side is cut off by the settle window), and a test-clock customer's
        objects carry the clock's time, weeks after the cutoff."""
        client = await self._deps.stripe.for_merchant(merchant_id)
        views: list[StatusView] = []
        with stripe_errors(f"list_{kind}"):
            if kind == "refund":
                async for r in (await client.v1.refunds.list_async(params={"limit": 100})).auto_paging_iter():
                    views.append(StatusView(object_id=r.id, status=r.status or "", amount_minor=r.amount))
            elif kind == "invoice":
                async for i in (
                    await client.v1.invoices.list_async(params={"limit": 100})
                ).auto_paging_iter():
                    if i.id:
                        views.append(
                            StatusView(object_id=i.id, status=i.status or "", amount_minor=i.amount_paid)
                        )
            else:
                params: Any = {"limit": 100, "status": "all"}
                async for s in (await client.v1.subscriptions.list_async(params=params)).auto_paging_iter():
                    views.append(StatusView(object_id=s.id, status=s.status, amount_minor=0))
        return views

    def _ledger(self, merchant_id: str, cutoff: datetime) -> dict[str, Any]:
        with self._deps.ledger.session() as session:
            payments = [
                LedgerPaymentView(
                    payment_id=p.id,
                    workflow_id=p.workflow_id,
                    intent_id=p.stripe_payment_intent_id,
                    status=p.status,
                    amount_minor=p.amount_minor,
                    captured_minor=p.amount_captured_minor,
                    refunded_minor=p.amount_refunded_minor,
                    currency=p.currency,
                )
                for p in session.scalars(select(Payment).where(Payment.merchant_id == merchant_id))
                if _aware(p.updated_at) <= cutoff
            ]
            refunds = [
                StatusView(object_id=r.stripe_refund_id, status=r.status, amount_minor=r.amount_minor)
                for r in session.scalars(select(Refund).where(Refund.merchant_id == merchant_id))
                if r.stripe_refund_id and r.status in SETTLED_REFUND and _aware(r.updated_at) <= cutoff
            ]
            invoices = [
                StatusView(object_id=i.stripe_invoice_id, status=i.status, amount_minor=i.amount_paid_minor)
                for i in session.scalars(select(Invoice).where(Invoice.merchant_id == merchant_id))
                if _aware(i.updated_at) <= cutoff
            ]
            subscriptions = [
                StatusView(object_id=s.stripe_subscription_id, status=s.status, amount_minor=0)
                for s in session.scalars(select(Subscription).where(Subscription.merchant_id == merchant_id))
                if s.stripe_subscription_id
                and s.status in STRIPE_SUBSCRIPTION_STATUSES
                and _aware(s.updated_at) <= cutoff
            ]
        return {
            "payments": payments,
            "refunds": refunds,
            "invoices": invoices,
            "subscriptions": subscriptions,
        }

    def _record(self, run_key: str, merchant_id: str, differences: list[Difference]) -> None:
        with self._deps.ledger.session() as session:
            for d in differences:
                upsert(
                    session,
                    ReconciliationDifference,
                    {"run_key": run_key, "merchant_id": merchant_id, **d.model_dump()},
                    ["run_key", "object_id", "field"],
                )

    @activity.defn(name="reconcile_merchant")
    async def reconcile_merchant(self, data: ReconcileMerchantInput) -> MerchantReport:
        """Compare one merchant's ledger with Stripe and record the differences; never changes money."""
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=data.settle_seconds)
        before = int(cutoff.timestamp())
        ledger = await asyncio.to_thread(self._ledger, data.merchant_id, cutoff)
        intents = await self._stripe_intents(data.merchant_id, before)
        differences = compare_payments(ledger["payments"], intents)
        checked = {"payment_intents": len(intents)}
        for kind, key in (("refund", "refunds"), ("invoice", "invoices"), ("subscription", "subscriptions")):
            stripe_side = await self._stripe_statuses(data.merchant_id, kind)
            differences += compare_statuses(kind, ledger[key], stripe_side)
            checked[key] = len(stripe_side)
        await asyncio.to_thread(self._record, data.run_key, data.merchant_id, differences)
        return MerchantReport(merchant_id=data.merchant_id, checked=checked, differences=differences)

    @activity.defn(name="sweep_stuck_runs")
    async def sweep_stuck_runs(self, data: SweepInput) -> SweepReport:
        """Wake payments that waited past their deadline (they re-read Stripe); report those with no run."""
        cutoff = datetime.now(UTC) - timedelta(seconds=data.stuck_after_seconds)

        def _stuck() -> list[tuple[str, str, str | None]]:
            with self._deps.ledger.session() as session:
                rows = session.scalars(select(Payment).where(Payment.status.in_(STUCK_PAYMENT)))
                return [
                    (p.workflow_id, p.merchant_id, p.stripe_payment_intent_id)
                    for p in rows
                    if _aware(p.updated_at) <= cutoff
                ]

        client = activity.client()
        report = SweepReport(woken=[], stuck=[])
        for workflow_id, merchant_id, intent_id in await asyncio.to_thread(_stuck):
            handle = client.get_workflow_handle(workflow_id)
            try:
                running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
                if running:
                    await handle.signal(
                        STRIPE_EVENT,
                        StripeEventSignal(
                            event_id=f"sweep:{data.run_key}",
                            type="billflow.sweep",
                            object_type="payment_intent",
                            object_id=intent_id or "",
                        ),
                    )
                    report.woken.append(workflow_id)
                    continue
            except RPCError:
                pass
            report.stuck.append(workflow_id)
            await asyncio.to_thread(
                self._record,
                data.run_key,
                merchant_id,
                [
                    Difference(
                        object_type="payment",
                        object_id=workflow_id,
                        field="stuck",
                        ledger_value="processing",
                        stripe_value=None,
                    )
                ],
            )
        return report
