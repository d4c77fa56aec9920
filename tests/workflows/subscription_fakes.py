"""A tiny in-memory Stripe subscription model behind the subscription activities' names.

Time is the activity's scheduled time, which on the time-skipping server is the skipped clock: a
subscription rolls its periods lazily whenever an activity looks at it, so renewals are driven
purely by the workflow's timers. `pm_card_chargeCustomerFail` attaches but every charge declines.
Also the recording stand-in for NotifyMerchantWorkflow and a worker builder the tests and the bench share.
"""

from __future__ import annotations

import calendar
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker, WorkflowRunner

from activities.billing_ledger import FindCustomerInput, RenewalRecord
from activities.subscriptions import (
    CancelSubscriptionInput,
    CheckRenewalInput,
    CreateSubscriptionInput,
    PayInvoiceInput,
    SubscriptionRef,
    UpdateSubscriptionInput,
)
from billflow.notifications import MerchantEvent
from billflow.subscriptions import InvoiceView, Plan, RenewalCheck, SubscriptionView
from workflows.sandbox import sandboxed_runner
from workflows.subscription import SubscriptionWorkflow

FAILING_CARDS = {"pm_card_chargeCustomerFail"}
PRICES = {"price_basic": ("usd", 1000), "price_pro": ("usd", 2500)}
NOTIFIED: dict[str, list[MerchantEvent]] = {}  # merchant id -> events, in arrival order


def add_period(anchor: datetime, interval: str, count: int, n: int) -> datetime:
    """The end of the n-th period after `anchor` (calendar months, clamped to the month's last day)."""
    if interval == "day":
        return anchor + timedelta(days=count * n)
    if interval == "week":
        return anchor + timedelta(weeks=count * n)
    months = count * n * (12 if interval == "year" else 1)
    y, m = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + y, m + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


@dataclass
class FakeSub:
    id: str
    customer: str
    price_id: str
    product_id: str
    amount: int
    currency: str
    interval: str
    interval_count: int
    pm: str | None
    anchor: datetime
    period_start: datetime
    period_end: datetime
    status: str = "active"
    n: int = 1
    cancel_at_period_end: bool = False
    paused: bool = False
    trial_end: datetime | None = None
    invoices: list[str] = field(default_factory=list)


@workflow.defn(name="NotifyMerchantWorkflow", sandboxed=False)
class RecordingNotifyWorkflow:
    """Stands in for the API branch's notifier: remembers what it was asked to send."""

    @workflow.run
    async def run(self, event: MerchantEvent) -> None:
        if not workflow.unsafe.is_replaying():
            NOTIFIED.setdefault(event.merchant_id, []).append(event)


class FakeStripe:
    """Subscriptions, invoices and prices of one test, with Stripe's idempotency-key replay."""

    def __init__(self) -> None:
        self.subs: dict[str, FakeSub] = {}
        self.invoices: dict[str, InvoiceView] = {}
        self.prices: dict[str, tuple[str, int]] = dict(PRICES)
        self.keys: dict[str, Any] = {}
        self.pay_calls: list[PayInvoiceInput] = []
        self.ledger: dict[str, RenewalRecord] = {}
        self.ledger_invoices: dict[str, InvoiceView] = {}
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    @staticmethod
    def now() -> datetime:
        return activity.info().current_attempt_scheduled_time

    def _invoice(self, sub: FakeSub, reason: str, amount: int, at: datetime, charge: bool) -> InvoiceView:
        inv = InvoiceView(
            id=self._id("in"),
            status="draft",
            billing_reason=reason,
            amount_due=amount,
            currency=sub.currency,
            created=at,
            period_start=sub.period_start,
            period_end=sub.period_end,
            customer_id=sub.customer,
            subscription_id=sub.id,
        )
        if sub.paused and reason == "subscription_cycle":
            inv.status = "void"
        elif charge:
            self._charge(sub, inv, sub.pm)
        self.invoices[inv.id] = inv
        sub.invoices.append(inv.id)
        return inv

    def _charge(self, sub: FakeSub, inv: InvoiceView, pm: str | None) -> bool:
        inv.attempt_count += 1
        if inv.amount_due > 0 and (pm is None or pm in FAILING_CARDS):
            inv.status = "open"
            return False
        inv.status, inv.amount_paid = "paid", inv.amount_due
        return True

    def _roll(self, sub: FakeSub) -> None:
        now = self.now()
        while sub.status not in ("canceled", "incomplete_expired", "incomplete") and now >= sub.period_end:
            if sub.cancel_at_period_end:
                sub.status = "canceled"
                return
            boundary = sub.period_end
            if sub.trial_end is not None and boundary == sub.trial_end:
                sub.anchor, sub.n = boundary, 0
            sub.n += 1
            sub.period_start = boundary
            sub.period_end = add_period(sub.anchor, sub.interval, sub.interval_count, sub.n)
            inv = self._invoice(sub, "subscription_cycle", sub.amount, boundary, charge=True)
            if inv.status == "open":
                sub.status = "past_due"
            elif sub.status in ("trialing", "past_due") and inv.status == "paid":
                sub.status = "active"
            elif sub.status == "trialing":
                sub.status = "active"

    def view(self, sub: FakeSub) -> SubscriptionView:
        latest = self.invoices[sub.invoices[-1]] if sub.invoices else None
        return SubscriptionView(
            id=sub.id,
            status=sub.status,
            customer_id=sub.customer,
            item_id=f"si_{sub.id}",
            price_id=sub.price_id,
            product_id=sub.product_id,
            amount_minor=sub.amount,
            currency=sub.currency,
            interval=sub.interval,
            interval_count=sub.interval_count,
            current_period_start=sub.period_start,
            current_period_end=sub.period_end,
            cancel_at_period_end=sub.cancel_at_period_end,
            paused=sub.paused,
            default_payment_method=sub.pm,
            trial_end=sub.trial_end,
            latest_invoice=latest.model_copy() if latest else None,
        )

    def _price_of(self, plan: Plan, product: str) -> str:
        if plan.price_id is not None:
            return plan.price_id
        assert plan.currency is not None and plan.amount_minor is not None
        price = self._id("price")
        self.prices[price] = (plan.currency, plan.amount_minor)
        return price

    # ---- the activities, under the real names ----

    @activity.defn(name="subs.create_subscription")
    async def create_subscription(self, data: CreateSubscriptionInput) -> SubscriptionView:
        if data.subscription_key in self.keys:
            return self.view(self.subs[self.keys[data.subscription_key]])
        now = self.now()
        price = self._price_of(data.plan, "prod_fake")
        currency, amount = self.prices[price]
        trial_end = now + timedelta(days=data.trial_days) if data.trial_days else None
        interval = data.plan.interval if data.plan.price_id is None else "month"
        sub = FakeSub(
            id=self._id("sub"),
            customer=data.customer_id,
            price_id=price,
            product_id="prod_fake",
            amount=amount,
            currency=currency,
            interval=interval,
            interval_count=data.plan.interval_count,
            pm=data.payment_method_id,
            anchor=now,
            period_start=now,
            period_end=trial_end or add_period(now, interval, data.plan.interval_count, 1),
            status="trialing" if trial_end else "active",
            trial_end=trial_end,
        )
        self.subs[sub.id] = sub
        self.keys[data.subscription_key] = sub.id
        inv = self._invoice(sub, "subscription_create", 0 if trial_end else amount, now, charge=True)
        if inv.status == "open":
            sub.status = "incomplete"
        return self.view(sub)

    @activity.defn(name="subs.get_subscription")
    async def get_subscription(self, data: SubscriptionRef) -> SubscriptionView:
        sub = self.subs[data.subscription_id]
        self._roll(sub)
        return self.view(sub)

    @activity.defn(name="subs.check_renewal")
    async def check_renewal(self, data: CheckRenewalInput) -> RenewalCheck:
        sub = self.subs[data.subscription_id]
        self._roll(sub)
        since = data.created_since
        invoices = [
            self.invoices[i].model_copy()
            for i in sub.invoices
            if since is None or self.invoices[i].created >= since
        ]
        return RenewalCheck(subscription=self.view(sub), invoices=invoices)

    @activity.defn(name="subs.pay_invoice")
    async def pay_invoice(self, data: PayInvoiceInput) -> InvoiceView:
        if data.idempotency_key in self.keys:
            result = self.keys[data.idempotency_key]
            if isinstance(result, ApplicationError):
                raise result
            assert isinstance(result, InvoiceView)
            return result
        self.pay_calls.append(data)
        inv = self.invoices[data.invoice_id]
        assert inv.subscription_id is not None
        sub = self.subs[inv.subscription_id]
        if inv.status != "open":
            return inv.model_copy()
        if not self._charge(sub, inv, data.payment_method_id or sub.pm):
            err = ApplicationError(
                "CardDeclined: your card was declined", type="CardDeclined", non_retryable=True
            )
            self.keys[data.idempotency_key] = err
            raise err
        if sub.status in ("past_due", "incomplete"):
            sub.status = "active"
        self.keys[data.idempotency_key] = inv.model_copy()
        return inv.model_copy()

    @activity.defn(name="subs.update_subscription")
    async def update_subscription(self, data: UpdateSubscriptionInput) -> SubscriptionView:
        sub = self.subs[data.subscription_id]
        self._roll(sub)
        if data.idempotency_key in self.keys:
            return self.view(sub)
        self.keys[data.idempotency_key] = sub.id
        if data.cancel_at_period_end is not None:
            sub.cancel_at_period_end = data.cancel_at_period_end
        if data.pause is not None:
            sub.paused = data.pause
        if data.payment_method_id is not None:
            sub.pm = data.payment_method_id
        if data.new_plan is not None:
            price = self._price_of(data.new_plan, data.product_id or "prod_fake")
            old = sub.amount
            sub.price_id = price
            sub.currency, sub.amount = self.prices[price]
            if data.proration_behavior == "always_invoice" and sub.amount > old:
                self._invoice(sub, "subscription_update", sub.amount - old, self.now(), charge=True)
        return self.view(sub)

    @activity.defn(name="subs.cancel_subscription")
    async def cancel_subscription(self, data: CancelSubscriptionInput) -> SubscriptionView:
        sub = self.subs[data.subscription_id]
        sub.status = "canceled"
        return self.view(sub)

    @activity.defn(name="billing.find_customer")
    def find_customer(self, data: FindCustomerInput) -> str | None:
        return f"cus_{data.user_id}"

    @activity.defn(name="billing.record_subscription")
    def record_subscription(self, data: RenewalRecord) -> None:
        self.ledger[data.subscription.id] = data
        if data.invoice is not None:
            self.ledger_invoices[data.invoice.invoice.id] = data.invoice.invoice

    def activities(self) -> list[Any]:
        return [
            self.create_subscription,
            self.get_subscription,
            self.check_renewal,
            self.pay_invoice,
            self.update_subscription,
            self.cancel_subscription,
            self.find_customer,
            self.record_subscription,
        ]


def fake_worker(
    client: Client, task_queue: str, stripe: FakeStripe, runner: WorkflowRunner | None = None
) -> Worker:
    """A worker with SubscriptionWorkflow, the recording notifier and the fakes (default sandbox unless `runner`)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SubscriptionWorkflow, RecordingNotifyWorkflow],
        activities=stripe.activities(),
        activity_executor=ThreadPoolExecutor(max_workers=4),
        workflow_runner=runner or sandboxed_runner(),
    )


def new_merchant() -> str:
    """A merchant id of its own per test, so recorded notifications never mix."""
    return f"m_{uuid.uuid4().hex[:10]}"
