"""SubscriptionWorkflow: a Stripe subscription followed period by period, for as many years as it lives.

One run covers one billing period: it waits durably for the renewal (a `stripe_event` signal, or a
timer at period end plus a grace period that asks Stripe), records the invoice, notifies the
merchant, runs dunning when the charge fails, and continues as new with its small state.

Dunning: `retry_schedule_days` are offsets from the first failed charge of an invoice (default
after 1, 3 and 5 days); each retry pays the invoice with key `invoice_pay:{attempt}` of that
period; an `update_card` signal retries at once with the new card; after the last failure the
subscription is canceled at Stripe.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

# Passed through: a ten-year subscription starts ~120 runs, and re-importing these modules into
# each run's sandbox would cost more than the run's own work. All are deterministic code.
with workflow.unsafe.imports_passed_through():
    from activities.billing_ledger import (
        BillingLedger,
        FindCustomerInput,
        InvoiceRecord,
        RenewalRecord,
        SubscriptionRecord,
    )
    from activities.subscriptions import (
        CancelSubscriptionInput,
        CheckRenewalInput,
        CreateSubscriptionInput,
        PayInvoiceInput,
        SubscriptionActivities,
        SubscriptionRef,
        UpdateSubscriptionInput,
    )
    from billflow.idempotency import stripe_key
    from billflow.money import describe_money
    from billflow.notifications import MerchantEvent
    from billflow.policies import LEDGER_WRITE, STRIPE_READ, STRIPE_WRITE
    from billflow.signals import CANCEL, STATE_QUERY, STRIPE_EVENT, Decision, StripeEventSignal
    from billflow.subscriptions import (
        CHANGE_PLAN,
        PAUSE,
        RESUME,
        UPDATE_CARD,
        CancelRequest,
        ChangePlan,
        InvoiceView,
        Plan,
        RenewalCheck,
        SubscriptionInput,
        SubscriptionResult,
        SubscriptionState,
        SubscriptionView,
        UpdateCard,
        subscription_id,
    )
    from workflows.common import (
        EXAMPLE_DECISION,
        StripeEventBatches,
        clear_waiting,
        notify,
        recheck_example,
        set_status,
        set_waiting,
    )

FLOW = "subscription"
__all__ = ["SubscriptionInput", "SubscriptionWorkflow"]
DECLINES = ("CardDeclined", "AuthenticationRequired")
ENDED = ("canceled", "incomplete_expired")
# Invoices a renewal looks at may be stamped a little before the period end we computed.
CLOCK_SLACK = timedelta(minutes=5)


Control = tuple[str, BaseModel]


@workflow.defn
class SubscriptionWorkflow(StripeEventBatches):
    @workflow.init
    def __init__(self, data: SubscriptionInput) -> None:
        self._in = data
        self._wid = workflow.info().workflow_id
        self._state = data.state or SubscriptionState(
            subscription_id=subscription_id(self._wid),
            stripe_customer_id=data.stripe_customer_id,
            payment_method_id=data.payment_method_id,
        )
        self._events: list[StripeEventSignal] = []
        self._controls: list[Control] = []
        self._ended = False

    # ---- signals and the query -------------------------------------------------------------

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        self._events.append(event)

    @workflow.signal(name=CANCEL)
    def cancel(self, request: CancelRequest) -> None:
        self._controls.append((CANCEL, request))

    @workflow.signal(name=PAUSE)
    def pause(self, decision: Decision) -> None:
        self._controls.append((PAUSE, decision))

    @workflow.signal(name=RESUME)
    def resume(self, decision: Decision) -> None:
        self._controls.append((RESUME, decision))

    @workflow.signal(name=CHANGE_PLAN)
    def change_plan(self, change: ChangePlan) -> None:
        self._controls.append((CHANGE_PLAN, change))

    @workflow.signal(name=UPDATE_CARD)
    def update_card(self, card: UpdateCard) -> None:
        self._controls.append((UPDATE_CARD, card))

    @workflow.query(name=STATE_QUERY)
    def state(self) -> SubscriptionState:
        return self._state

    # ---- the run: one billing period --------------------------------------------------------

    @workflow.run
    async def run(self, data: SubscriptionInput) -> SubscriptionResult:
        if self._state.stripe_subscription_id is None:
            await self._begin()
        if not self._ended:
            await self._periods()
        while self._controls and not self._ended:
            await self._apply_controls()
        if self._ended:
            clear_waiting()
            return self._result()
        workflow.continue_as_new(self._in.model_copy(update={"state": self._state, "check_now": True}))

    def _result(self) -> SubscriptionResult:
        s = self._state
        return SubscriptionResult(
            subscription_id=s.subscription_id,
            stripe_subscription_id=s.stripe_subscription_id,
            status=s.status,
            periods_paid=s.periods_paid,
            failures=s.failures,
        )

    async def _begin(self) -> None:
        """Create (or adopt) the Stripe subscription and settle its first invoice."""
        d = self._in
        if d.adopt_subscription_id:
            view = await self._update(
                UpdateSubscriptionInput(
                    merchant_id=d.merchant_id,
                    subscription_id=d.adopt_subscription_id,
                    idempotency_key=stripe_key(self._wid, "adopt"),
                    workflow_id=self._wid,
                ),
                f"adopt {d.adopt_subscription_id}",
            )
        else:
            customer = d.stripe_customer_id
            if customer is None and d.user_id is not None:
                customer = await workflow.execute_activity_method(
                    BillingLedger.find_customer,
                    FindCustomerInput(merchant_id=d.merchant_id, user_id=d.user_id),
                    summary=f"find customer of user {d.user_id}",
                    **LEDGER_WRITE.kwargs(),
                )
            if customer is None:
                raise ApplicationError(
                    "no Stripe customer for this user: save a card first", type="NoCustomer"
                )
            plan = Plan(
                price_id=d.price_id,
                amount_minor=d.amount_minor,
                currency=d.currency,
                interval=d.interval,
                interval_count=d.interval_count,
            )
            amount = describe_money(plan.amount_minor or 0, plan.currency or "")
            what = plan.price_id or f"{amount} every {plan.interval_count} {plan.interval}"
            view = await workflow.execute_activity_method(
                SubscriptionActivities.create_subscription,
                CreateSubscriptionInput(
                    merchant_id=d.merchant_id,
                    workflow_id=self._wid,
                    customer_id=customer,
                    plan=plan,
                    payment_method_id=d.payment_method_id,
                    trial_days=d.trial_days,
                    product_name=d.product_name,
                    product_key=stripe_key(self._wid, "create_product"),
                    price_key=stripe_key(self._wid, "create_price"),
                    subscription_key=stripe_key(self._wid, "create_subscription"),
                ),
                summary=f"subscribe {customer} to {what}",
                **STRIPE_WRITE.kwargs(),
            )
        self._absorb(view)
        self._state.period = 1
        first = view.latest_invoice
        if view.status == "incomplete":
            await self._record(first)
            await self._incomplete(first)
            return
        if view.status in ENDED:
            await self._end(view.status, "ended at Stripe before billflow saw it")
            return
        if first is not None and first.status == "paid" and first.amount_paid > 0:
            self._state.periods_paid = 1
        self._state.last_invoice_id = first.id if first else None
        await self._record(first)
        await self._notify("subscription.activated", 1)
        await self._fixed_term()

    async def _incomplete(self, invoice: InvoiceView | None) -> None:
        """First invoice unpaid: wait for a new card or the customer's authentication, else expire."""
        s = self._state
        self._set("incomplete")
        await self._notify("subscription.incomplete", 1, invoice_id=invoice.id if invoice else None)
        until = workflow.now() + timedelta(hours=self._in.incomplete_hours)
        while not self._ended:
            set_waiting(
                "the first payment (authentication or a new card)",
                until,
                also=self._offers(UPDATE_CARD, STRIPE_EVENT),
            )
            await self._wait(until)
            if self._controls:
                card = await self._apply_controls()
                if self._ended:
                    return
                if card is not None and invoice is not None:
                    if await self._pay(invoice, card, f"incomplete_pay:{s.op_seq}", 1) is not None:
                        break
            if self._events or workflow.now() >= until:
                self._events.clear()
                view = await self._get()
                if view.status in ("active", "trialing"):
                    self._absorb(view)
                    break
                if view.status in ENDED or workflow.now() >= until:
                    await self._cancel("incomplete_expire", None)
                    s.status = "incomplete_expired"
                    await self._end("incomplete_expired", "first payment never completed")
                    return
        view = await self._get()
        self._absorb(view)
        self._set(self._status_of(view))
        s.periods_paid = 1
        s.last_invoice_id = invoice.id if invoice else None
        await self._record(view.latest_invoice)
        await self._notify("subscription.activated", 1)

    async def _periods(self) -> None:
        """Wait for each renewal and settle it (paid, skipped while paused, dunning, canceled).

        Returns when the flow ended, or when a second renewal falls due in this run: the run then
        continues as new with `check_now`, so each run holds one period and the notification children
        it started have long finished when it closes.
        """
        grace = timedelta(seconds=self._in.renewal_grace_seconds)
        boundary = self._state.current_period_end
        deadline = (boundary or workflow.now()) + grace
        check_now, settled = self._in.check_now, False
        while not self._ended:
            await self._apply_controls()
            if self._ended:
                return
            if self._state.current_period_end != boundary:  # settled, or a plan change moved the anchor
                boundary = self._state.current_period_end
                deadline = (boundary or workflow.now()) + grace
            if check_now or self._events or workflow.now() >= deadline:
                if settled:
                    return
                check_now = False
                self._events.clear()
                if await self._settle(boundary):
                    settled = True
                    continue
                if workflow.now() >= deadline:
                    deadline = workflow.now() + grace
            set_waiting(
                f"renewal of period {self._state.period + 1} ({self._state.stripe_subscription_id})",
                deadline,
                also=self._offers(STRIPE_EVENT, RESUME if self._state.paused else PAUSE),
            )
            await self._wait(deadline)

    async def _settle(self, boundary: datetime | None) -> bool:
        """Ask Stripe how the renewal went; True once this period is settled."""
        check = await self._check(boundary)
        sub = check.subscription
        if sub.status in ENDED:
            self._absorb(sub)
            await self._end(
                "canceled", "canceled at period end" if sub.cancel_at_period_end else "canceled at Stripe"
            )
            return True
        # A cycle invoice already settled never settles a second period, even if Stripe's copy of
        # the subscription still shows the old period (a read racing the renewal).
        cycle = [
            inv
            for inv in check.invoices
            if inv.billing_reason == "subscription_cycle" and inv.id not in self._state.settled_invoices
        ]
        for inv in check.invoices:
            if inv not in cycle and inv.status == "paid" and inv.id != self._state.last_invoice_id:
                await self._record(inv)  # a proration invoice of a plan change
        if cycle:
            inv = cycle[0]
            if inv.status == "paid":
                await self._renewed(sub, inv)
                return True
            if inv.status in ("void", "uncollectible"):
                await self._skipped(sub, inv)
                return True
            if inv.status == "open" and (inv.attempt_count > 0 or sub.status == "past_due"):
                await self._dunning(inv, boundary)
                return True
            return False  # draft, or not attempted yet: Stripe charges about an hour after the period ends
        rolled = (
            sub.current_period_start is not None
            and boundary is not None
            and sub.current_period_start >= boundary
        )
        if rolled and sub.paused:
            await self._skipped(sub, None)
            return True
        return False

    async def _renewed(self, sub: SubscriptionView, inv: InvoiceView) -> None:
        s = self._state
        boundary = s.current_period_end
        self._absorb(sub)
        if (
            boundary is not None
            and inv.period_end is not None
            and inv.period_end > boundary >= (s.current_period_end or boundary)
        ):
            s.current_period_start, s.current_period_end = (
                inv.period_start,
                inv.period_end,
            )  # stale read: the invoice knows
            s.next_renewal_at = s.current_period_end
        self._settled(inv.id)
        s.period += 1
        s.periods_paid += 1
        s.dunning_attempt = 0
        s.unpaid_invoice_id = None
        s.last_invoice_id = inv.id
        self._set("active")
        await asyncio.gather(  # one workflow task for both: a ten-year run has 120 of these
            self._record(inv),
            self._notify("subscription.renewed", s.period, invoice_id=inv.id, amount_paid=inv.amount_paid),
        )
        await self._fixed_term()

    async def _fixed_term(self) -> None:
        """A fixed-term subscription asks Stripe to cancel at the end of its last period."""
        last = self._in.cancel_after_periods
        s = self._state
        if last is not None and s.period >= last and not s.cancel_at_period_end:
            self._controls.append(
                (CANCEL, CancelRequest(by="billflow", reason="fixed term", at_period_end=True))
            )

    async def _skipped(self, sub: SubscriptionView, inv: InvoiceView | None) -> None:
        """A period that passed while collection was paused: nothing charged."""
        self._absorb(sub)
        self._state.period += 1
        if inv is not None:
            self._state.last_invoice_id = inv.id
            self._settled(inv.id)
        await self._record(inv)

    def _settled(self, invoice_id: str) -> None:
        """Remember the last few settled cycle invoices (bounded: the state crosses continue-as-new)."""
        self._state.settled_invoices = [*self._state.settled_invoices, invoice_id][-6:]

    async def _dunning(self, inv: InvoiceView, boundary: datetime | None) -> None:
        """Retry the unpaid renewal on the schedule; a new card retries at once; cancel after the last."""
        s = self._state
        period = s.period + 1
        s.failures += 1
        s.unpaid_invoice_id = inv.id
        s.dunning_attempt = 0
        self._set("past_due")
        await self._record(inv)
        await self._notify("subscription.past_due", period, invoice_id=inv.id, attempt=0, failures=s.failures)
        first_failure = workflow.now()
        for attempt, days in enumerate(self._in.retry_schedule_days, start=1):
            due = first_failure + timedelta(days=days)
            card: str | None = None
            while card is None and workflow.now() < due:
                set_waiting(
                    f"dunning retry {attempt} of invoice {inv.id}", due, also=self._offers(UPDATE_CARD)
                )
                await self._wait(due)
                if self._controls:
                    card = await self._apply_controls()
                    if self._ended:
                        return
                if self._events:
                    self._events.clear()
                    check = await self._check(boundary)
                    now_paid = [i for i in check.invoices if i.id == inv.id and i.status == "paid"]
                    if now_paid:
                        await self._renewed(check.subscription, now_paid[0])
                        return
                    if check.subscription.status in ENDED:
                        self._absorb(check.subscription)
                        await self._end("canceled", "canceled at Stripe during dunning")
                        return
            s.dunning_attempt = attempt
            paid = await self._pay(inv, card, f"invoice_pay:{attempt}", period)
            if paid is not None:
                await self._renewed(await self._get(), paid)
                return
            await self._notify(
                "subscription.past_due", period, invoice_id=inv.id, attempt=attempt, failures=s.failures
            )
        await self._cancel("dunning_cancel", period)
        await self._end("canceled", f"unpaid after {len(self._in.retry_schedule_days)} retries")

    async def _pay(self, inv: InvoiceView, card: str | None, step: str, period: int) -> InvoiceView | None:
        """Pay an open invoice; None (and one more failure counted) when the card is declined."""
        try:
            paid = await workflow.execute_activity_method(
                SubscriptionActivities.pay_invoice,
                PayInvoiceInput(
                    merchant_id=self._in.merchant_id,
                    invoice_id=inv.id,
                    payment_method_id=card,
                    idempotency_key=stripe_key(self._wid, step, period),
                ),
                summary=f"pay {inv.id}" + (f" with {card}" if card else ""),
                **STRIPE_WRITE.kwargs(),
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in DECLINES:
                self._state.failures += 1
                return None
            raise
        return paid if paid.status == "paid" else None

    # ---- controls: cancel, pause, resume, change plan, update card --------------------------

    async def _apply_controls(self) -> str | None:
        """Apply queued control signals in order; returns the card of an `update_card`, if any."""
        s = self._state
        card: str | None = None
        while self._controls and not self._ended:
            kind, payload = self._controls.pop(0)
            invoice: InvoiceView | None = None
            s.op_seq += 1
            key = stripe_key(self._wid, f"{kind}:{s.op_seq}")
            base: dict[str, Any] = {
                "merchant_id": self._in.merchant_id,
                "subscription_id": s.stripe_subscription_id or "",
                "idempotency_key": key,
            }
            try:
                if kind == CANCEL and isinstance(payload, CancelRequest):
                    if payload.at_period_end:
                        view = await self._update(
                            UpdateSubscriptionInput(**base, cancel_at_period_end=True), "cancel at period end"
                        )
                        self._absorb(view)
                    else:
                        await self._cancel(f"cancel:{s.op_seq}", None)
                        await self._end(
                            "canceled", f"canceled by {payload.by}: {payload.reason}".rstrip(": ")
                        )
                elif kind in (PAUSE, RESUME):
                    view = await self._update(
                        UpdateSubscriptionInput(**base, pause=kind == PAUSE), f"{kind} collection"
                    )
                    self._absorb(view)
                    self._set(self._status_of(view))
                elif kind == CHANGE_PLAN and isinstance(payload, ChangePlan):
                    view = await self._update(
                        UpdateSubscriptionInput(
                            **base,
                            workflow_id=self._wid,
                            new_plan=payload.plan,
                            product_id=s.product_id,
                            proration_behavior=payload.proration_behavior,
                            price_key=stripe_key(self._wid, f"change_plan_price:{s.op_seq}"),
                        ),
                        f"change plan to {payload.plan.price_id or payload.plan.amount_minor}",
                    )
                    self._absorb(view)
                    if view.latest_invoice and view.latest_invoice.billing_reason == "subscription_update":
                        invoice = view.latest_invoice  # the proration, invoiced at once
                elif kind == UPDATE_CARD and isinstance(payload, UpdateCard):
                    view = await self._update(
                        UpdateSubscriptionInput(**base, payment_method_id=payload.payment_method_id),
                        f"default card {payload.payment_method_id}",
                    )
                    self._absorb(view)
                    s.payment_method_id = payload.payment_method_id
                    card = payload.payment_method_id
            except ActivityError as err:
                workflow.logger.warning("%s refused by Stripe: %s", kind, err.cause)
            await self._record(invoice)
        return card

    # ---- small helpers ----------------------------------------------------------------------

    def _offers(self, *signals: str) -> dict[str, dict[str, Any] | None]:
        """The signals a wait offers in its current details, each with a payload that parses (cancel last)."""
        examples: dict[str, dict[str, Any]] = {
            STRIPE_EVENT: recheck_example("subscription", self._state.stripe_subscription_id or ""),
            PAUSE: EXAMPLE_DECISION,
            RESUME: EXAMPLE_DECISION,
            UPDATE_CARD: {"payment_method_id": "pm_...", "by": "ops@example.com"},
        }
        offers: dict[str, dict[str, Any] | None] = {name: examples[name] for name in signals}
        offers[CANCEL] = {**EXAMPLE_DECISION, "at_period_end": True}
        return offers

    async def _wait(self, until: datetime) -> None:
        timeout = max(until - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(lambda: bool(self._events or self._controls), timeout=timeout)
        except TimeoutError:
            pass

    async def _check(self, boundary: datetime | None) -> RenewalCheck:
        return await workflow.execute_activity_method(
            SubscriptionActivities.check_renewal,
            CheckRenewalInput(
                merchant_id=self._in.merchant_id,
                subscription_id=self._state.stripe_subscription_id or "",
                created_since=boundary - CLOCK_SLACK if boundary else None,
            ),
            summary=f"check renewal of {self._state.stripe_subscription_id}",
            **STRIPE_READ.kwargs(),
        )

    async def _get(self) -> SubscriptionView:
        return await workflow.execute_activity_method(
            SubscriptionActivities.get_subscription,
            SubscriptionRef(
                merchant_id=self._in.merchant_id, subscription_id=self._state.stripe_subscription_id or ""
            ),
            summary=f"read {self._state.stripe_subscription_id}",
            **STRIPE_READ.kwargs(),
        )

    async def _update(self, data: UpdateSubscriptionInput, what: str) -> SubscriptionView:
        return await workflow.execute_activity_method(
            SubscriptionActivities.update_subscription,
            data,
            summary=f"{what} ({data.subscription_id})",
            **STRIPE_WRITE.kwargs(),
        )

    async def _cancel(self, step: str, period: int | None) -> None:
        view = await workflow.execute_activity_method(
            SubscriptionActivities.cancel_subscription,
            CancelSubscriptionInput(
                merchant_id=self._in.merchant_id,
                subscription_id=self._state.stripe_subscription_id or "",
                idempotency_key=stripe_key(self._wid, step, period),
            ),
            summary=f"cancel {self._state.stripe_subscription_id}",
            **STRIPE_WRITE.kwargs(),
        )
        self._absorb(view)

    async def _end(self, status: str, reason: str) -> None:
        self._ended = True
        self._state.ended_reason = reason
        self._state.next_renewal_at = None
        self._set(status)
        await self._record(None)
        await self._notify(f"subscription.{status}", None, reason=reason)

    def _status_of(self, view: SubscriptionView) -> str:
        if view.status == "active" and view.paused:
            return "paused"
        return view.status

    def _set(self, status: str) -> None:
        if status != self._state.status:
            self._state.status = status
            set_status(
                status,
                customer_id=self._state.stripe_customer_id,
                amount_minor=self._state.amount_minor,
                currency=self._state.currency,
            )

    def _absorb(self, view: SubscriptionView) -> None:
        s = self._state
        s.stripe_subscription_id = view.id
        s.stripe_customer_id = view.customer_id or s.stripe_customer_id
        s.item_id = view.item_id or s.item_id
        s.price_id = view.price_id or s.price_id
        s.product_id = view.product_id or s.product_id
        s.amount_minor = view.amount_minor if view.amount_minor is not None else s.amount_minor
        s.currency = view.currency or s.currency
        s.interval = view.interval or s.interval
        s.interval_count = view.interval_count
        s.current_period_start = view.current_period_start or s.current_period_start
        s.current_period_end = view.current_period_end or s.current_period_end
        s.next_renewal_at = s.current_period_end
        s.cancel_at_period_end = view.cancel_at_period_end
        s.paused = view.paused
        s.payment_method_id = view.default_payment_method or s.payment_method_id
        if s.status not in ("past_due", "incomplete") or view.status in ENDED:
            self._set(self._status_of(view))

    async def _record(self, invoice: InvoiceView | None) -> None:
        s = self._state
        await workflow.execute_activity_method(
            BillingLedger.record_subscription,
            RenewalRecord(
                subscription=SubscriptionRecord(
                    id=s.subscription_id,
                    merchant_id=self._in.merchant_id,
                    workflow_id=self._wid,
                    user_id=self._in.user_id or "",
                    stripe_subscription_id=s.stripe_subscription_id,
                    stripe_customer_id=s.stripe_customer_id,
                    stripe_price_id=s.price_id,
                    status=s.status,
                    amount_minor=s.amount_minor,
                    currency=s.currency,
                    current_period_end=s.current_period_end,
                    periods_paid=s.periods_paid,
                    failures=s.failures,
                ),
                invoice=InvoiceRecord(
                    merchant_id=self._in.merchant_id, workflow_id=self._wid, invoice=invoice
                )
                if invoice is not None
                else None,
            ),
            summary=f"ledger {s.subscription_id} {s.status}" + (f" + {invoice.id}" if invoice else ""),
            **LEDGER_WRITE.kwargs(),
        )

    async def _notify(self, event_type: str, period: int | None, **extra: Any) -> None:
        s = self._state
        suffix = f":{period}" if period is not None else ""
        if "attempt" in extra:
            suffix += f":{extra['attempt']}"
        data: dict[str, Any] = {
            "subscription_id": s.subscription_id,
            "stripe_subscription_id": s.stripe_subscription_id,
            "user_id": self._in.user_id,
            "status": s.status,
            "period": period,
            "current_period_end": s.current_period_end.isoformat() if s.current_period_end else None,
            **extra,
        }
        await notify(
            MerchantEvent(
                event_id=f"{self._wid}:{event_type}{suffix}",
                merchant_id=self._in.merchant_id,
                type=event_type,
                data=data,
            )
        )
