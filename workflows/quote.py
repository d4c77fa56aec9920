"""QuoteWorkflow: draft quote → approval → finalize → customer acceptance or expiry → invoice → paid.

Recurring quotes end by handing the Stripe subscription Stripe created on acceptance to a
SubscriptionWorkflow child (abandoned, so it outlives this flow).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

from billflow.idempotency import stripe_key
from billflow.notifications import MerchantEvent
from billflow.policies import LEDGER_WRITE, STRIPE_READ, STRIPE_WRITE
from billflow.signals import APPROVE, CANCEL, REJECT, STATE_QUERY, STRIPE_EVENT, Decision, StripeEventSignal
from workflows.common import (
    EXAMPLE_DECISION,
    ManagerDecision,
    StripeEventBatches,
    clear_waiting,
    notify,
    recheck_example,
    set_status,
    set_waiting,
    start_attributes,
    static_details,
)
from workflows.subscription import SubscriptionInput

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities, InvoiceSnapshot, InvoiceStepInput
    from activities.quotes import (
        CreateQuoteInput,
        QuoteActivities,
        QuoteCustomerInput,
        QuoteSettingsInput,
        QuoteSnapshot,
        QuoteStepInput,
    )
    from activities.quotes_ledger import InvoiceRecord, QuoteRecord, QuotesLedger
    from billflow.quotes import (
        ACCEPT,
        FINAL_INVOICE_STATUSES,
        SUBSCRIPTION_WORKFLOW,
        QuoteInput,
        QuoteState,
        QuoteStatus,
        quote_public_id,
    )

# A pay attempt that fails for these leaves the invoice open: followed until the grace period ends.
PAYMENT_FAILURES = ("CardDeclined", "AuthenticationRequired", "InvalidRequest")


def _failure_type(exc: ActivityError) -> str | None:
    cause = exc.cause
    return cause.type if isinstance(cause, ApplicationError) else None


@workflow.defn
class QuoteWorkflow(ManagerDecision, StripeEventBatches):
    @workflow.init
    def __init__(self, data: QuoteInput) -> None:
        wid = workflow.info().workflow_id
        self._state = QuoteState(quote_id=quote_public_id(wid), workflow_id=wid, merchant_id=data.merchant_id)
        self._decision: tuple[str, Decision] | None = None
        self._accepted: Decision | None = None
        self._canceled: Decision | None = None
        self._events = 0

    # -- signals and query -------------------------------------------------------------------

    @workflow.signal(name=ACCEPT)
    def accept(self, decision: Decision) -> None:
        if self._accepted is None:
            self._accepted = decision

    @workflow.signal(name=CANCEL)
    def cancel(self, decision: Decision) -> None:
        if self._canceled is None:
            self._canceled = decision

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        self._events += 1

    @workflow.query(name=STATE_QUERY)
    def state(self) -> QuoteState:
        return self._state

    # -- the flow -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: QuoteInput) -> QuoteState:
        s = self._state
        wid = s.workflow_id
        customer = data.customer_id or await workflow.execute_activity_method(
            QuoteActivities.customer,
            QuoteCustomerInput(
                merchant_id=data.merchant_id,
                user_id=data.user_id or "",
                workflow_id=wid,
                idempotency_key=stripe_key(wid, "create_customer"),
            ),
            summary=f"customer of user {data.user_id}",
            **STRIPE_WRITE.kwargs(),
        )
        s.stripe_customer_id = customer
        policy = await workflow.execute_activity_method(
            QuoteActivities.settings,
            QuoteSettingsInput(merchant_id=data.merchant_id),
            summary=f"quote policy of {data.merchant_id}",
            **STRIPE_READ.kwargs(),
        )
        quote = await workflow.execute_activity_method(
            QuoteActivities.create,
            CreateQuoteInput(
                merchant_id=data.merchant_id,
                workflow_id=wid,
                idempotency_key=stripe_key(wid, "create_quote"),
                customer_id=customer,
                line_items=data.line_items,
                expires_at=workflow.now() + timedelta(days=data.expires_in_days),
                description=data.description,
                collection_method=data.collection_method,
                days_until_due=data.days_until_due,
            ),
            summary=f"create quote for {customer}",
            **STRIPE_WRITE.kwargs(),
        )
        self._take_quote(quote)
        await self._step("draft", "quote.created")

        limit = policy.auto_approve_below_minor
        if limit is None or quote.amount_total_minor >= limit:
            if not await self._await_approval(quote):
                return s
        else:
            s.approved_by = "auto"

        quote = await self._quote_write(QuoteActivities.finalize, "finalize_quote", f"finalize {quote.id}")
        self._take_quote(quote)
        if not await self._await_acceptance(quote):
            return s

        quote = await self._quote_write(QuoteActivities.accept, "accept_quote", f"accept {quote.id}")
        self._take_quote(quote)
        await self._step("accepted", "quote.accepted")
        if quote.subscription_id:
            await self._hand_over_subscription(data, quote)
        elif quote.invoice_id:
            await self._collect_invoice(data, quote.invoice_id)
        else:
            s.failure = "Stripe accepted the quote without an invoice or a subscription"
            await self._step("failed", "quote.failed")
        return s

    # -- steps ---------------------------------------------------------------------------------

    async def _await_approval(self, quote: QuoteSnapshot) -> bool:
        """Wait for approve/reject/cancel until the quote expires; False if the flow ends here."""
        # The details first: whoever finds the run by its new status reads what it waits for.
        set_waiting(
            "a manager's approval",
            quote.expires_at,
            also={APPROVE: EXAMPLE_DECISION, REJECT: EXAMPLE_DECISION, CANCEL: EXAMPLE_DECISION},
        )
        await self._step("awaiting_approval", "quote.awaiting_approval")
        decided = await self._wait(
            lambda: self._decision is not None or self._canceled is not None, quote.expires_at
        )
        clear_waiting()
        if not decided:
            await self._cancel_quote("expired", None)
            return False
        if self._decision is not None and self._decision[0] == APPROVE:
            self._state.approved_by = self._decision[1].by
            self._state.decided_reason = self._decision[1].reason
            return True
        decision = self._decision[1] if self._decision is not None else self._canceled
        await self._cancel_quote("rejected" if self._decision is not None else "canceled", decision)
        return False

    async def _await_acceptance(self, quote: QuoteSnapshot) -> bool:
        """Open the quote, then wait for the customer's acceptance, a cancel or the expiry; False if the
        flow ends here."""
        expires_at = quote.expires_at
        set_waiting(
            "the customer's acceptance",
            expires_at,
            also={ACCEPT: {"by": "customer@example.com"}, CANCEL: EXAMPLE_DECISION},
        )
        await self._step("open", "quote.finalized", {"pdf_url": quote.pdf_url, "number": quote.number})
        ended = await self._wait(lambda: self._accepted is not None or self._canceled is not None, expires_at)
        clear_waiting()
        if not ended:
            await self._cancel_quote("expired", None)
            return False
        if self._canceled is not None and self._accepted is None:
            await self._cancel_quote("canceled", self._canceled)
            return False
        return True

    async def _cancel_quote(self, status: QuoteStatus, decision: Decision | None) -> None:
        if decision is not None:
            self._state.decided_reason = decision.reason or None
        quote = await self._quote_write(QuoteActivities.cancel, "cancel_quote", "cancel quote")
        self._take_quote(quote)
        extra = {"by": decision.by, "reason": decision.reason} if decision is not None else {}
        await self._step(status, f"quote.{status}", extra)

    async def _hand_over_subscription(self, data: QuoteInput, quote: QuoteSnapshot) -> None:
        s = self._state
        assert quote.subscription_id is not None
        child_id = f"subscription/{data.merchant_id}/{s.quote_id}"
        child = SubscriptionInput(
            merchant_id=data.merchant_id,
            user_id=data.user_id,
            stripe_customer_id=s.stripe_customer_id,
            price_id=quote.subscription_price_id,
            adopt_subscription_id=quote.subscription_id,
            currency=s.currency,
        )
        try:
            await workflow.start_child_workflow(
                SUBSCRIPTION_WORKFLOW,
                child,
                id=child_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=f"Subscription {quote.subscription_id} from quote {quote.id}",
                static_details=static_details(
                    ("Quote", f"{s.quote_id} ({quote.id})"),
                    ("Merchant", data.merchant_id),
                    ("Customer", s.stripe_customer_id),
                    ("Price", quote.subscription_price_id),
                ),
                search_attributes=start_attributes(
                    "subscription",
                    "creating",
                    data.merchant_id,
                    customer_id=s.stripe_customer_id,
                    currency=s.currency,
                ),
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier run (reset): it already owns the subscription
        s.subscription_workflow_id = child_id
        await self._step("subscribed", "quote.subscribed", {"subscription_workflow_id": child_id})

    async def _collect_invoice(self, data: QuoteInput, invoice_id: str) -> None:
        s = self._state
        s.stripe_invoice_id = invoice_id
        invoice = await self._invoice_write(InvoiceActivities.finalize, invoice_id, "finalize_invoice")
        await self._take_invoice(invoice)
        await self._step(
            "invoice_open",
            "invoice.finalized",
            {"hosted_invoice_url": invoice.hosted_invoice_url, "invoice_pdf": invoice.invoice_pdf},
        )
        grace = timedelta(days=data.grace_days)
        if data.collection_method == "charge_automatically":
            deadline = workflow.now() + grace
            try:
                invoice = await self._invoice_write(InvoiceActivities.pay, invoice_id, "pay_invoice")
            except ActivityError as exc:
                if _failure_type(exc) not in PAYMENT_FAILURES:
                    raise
                s.failure = str(exc.cause)
                await self._step("payment_failed", "invoice.payment_failed", {"error": s.failure})
        else:
            invoice = await self._invoice_write(InvoiceActivities.send, invoice_id, "send_invoice")
            due = invoice.due_at or workflow.now() + timedelta(days=data.days_until_due or 30)
            s.invoice_due_at = due
            deadline = due + grace
            await self._step("invoice_open", "invoice.sent", {"due_at": due.isoformat()})
        invoice = await self._follow_invoice(data, invoice, deadline)
        await self._take_invoice(invoice)
        status: QuoteStatus = "paid"
        if invoice.status in ("void", "uncollectible"):
            status = "void" if invoice.status == "void" else "uncollectible"
        await self._step(status, f"invoice.{invoice.status}")

    async def _follow_invoice(
        self, data: QuoteInput, invoice: InvoiceSnapshot, deadline: datetime
    ) -> InvoiceSnapshot:
        """Until paid/void/uncollectible: wake on a Stripe event or a poll; past the deadline, give up."""
        poll = timedelta(seconds=data.poll_interval_seconds)
        while invoice.status not in FINAL_INVOICE_STATUSES:
            if workflow.now() >= deadline:
                invoice = await self._invoice_write(
                    InvoiceActivities.mark_uncollectible, invoice.id, "mark_uncollectible"
                )
                break

            def new_event(seen: int = self._events) -> bool:
                return self._events > seen

            set_waiting(
                f"payment of invoice {invoice.id}",
                deadline,
                STRIPE_EVENT,
                recheck_example("invoice", invoice.id),
            )
            await self._wait(new_event, min(deadline, workflow.now() + poll))
            clear_waiting()
            invoice = await workflow.execute_activity_method(
                InvoiceActivities.retrieve,
                InvoiceStepInput(merchant_id=data.merchant_id, invoice_id=invoice.id),
                summary=f"re-read {invoice.id}",
                **STRIPE_READ.kwargs(),
            )
        return invoice

    # -- helpers -------------------------------------------------------------------------------

    async def _wait(self, condition: Callable[[], bool], until: datetime) -> bool:
        """Wait for `condition` until `until`; True if it came true in time."""
        remaining = until - workflow.now()
        if remaining <= timedelta(0):
            return bool(condition())
        try:
            await workflow.wait_condition(condition, timeout=remaining)
        except TimeoutError:
            return False
        return True

    async def _quote_write(self, method: Any, step: str, summary: str) -> QuoteSnapshot:
        s = self._state
        result: QuoteSnapshot = await workflow.execute_activity_method(
            method,
            QuoteStepInput(
                merchant_id=s.merchant_id,
                quote_id=s.stripe_quote_id or "",
                idempotency_key=stripe_key(s.workflow_id, step),
            ),
            summary=summary,
            **STRIPE_WRITE.kwargs(),
        )
        return result

    async def _invoice_write(self, method: Any, invoice_id: str, step: str) -> InvoiceSnapshot:
        s = self._state
        result: InvoiceSnapshot = await workflow.execute_activity_method(
            method,
            InvoiceStepInput(
                merchant_id=s.merchant_id,
                invoice_id=invoice_id,
                idempotency_key=stripe_key(s.workflow_id, step),
                workflow_id=s.workflow_id,
            ),
            summary=f"{step.replace('_', ' ')} {invoice_id}",
            **STRIPE_WRITE.kwargs(),
        )
        return result

    def _take_quote(self, quote: QuoteSnapshot) -> None:
        s = self._state
        s.stripe_quote_id = quote.id
        s.amount_total_minor = quote.amount_total_minor
        s.currency = quote.currency
        s.expires_at = quote.expires_at
        s.stripe_invoice_id = quote.invoice_id or s.stripe_invoice_id
        s.stripe_subscription_id = quote.subscription_id or s.stripe_subscription_id

    async def _take_invoice(self, invoice: InvoiceSnapshot) -> None:
        await workflow.execute_activity_method(
            QuotesLedger.record_invoice,
            InvoiceRecord(
                merchant_id=self._state.merchant_id, workflow_id=self._state.workflow_id, invoice=invoice
            ),
            summary=f"ledger: invoice {invoice.id} {invoice.status}",
            **LEDGER_WRITE.kwargs(),
        )

    async def _step(self, status: QuoteStatus, event: str, extra: dict[str, Any] | None = None) -> None:
        """Record a state change everywhere: search attributes, ledger, merchant notification."""
        s = self._state
        s.status = status
        set_status(
            status, customer_id=s.stripe_customer_id, amount_minor=s.amount_total_minor, currency=s.currency
        )
        await workflow.execute_activity_method(
            QuotesLedger.record_quote,
            QuoteRecord(
                quote_id=s.quote_id,
                workflow_id=s.workflow_id,
                merchant_id=s.merchant_id,
                status=status,
                stripe_quote_id=s.stripe_quote_id,
                stripe_customer_id=s.stripe_customer_id,
                amount_total_minor=s.amount_total_minor,
                currency=s.currency,
                stripe_invoice_id=s.stripe_invoice_id,
                stripe_subscription_id=s.stripe_subscription_id,
            ),
            summary=f"ledger: quote {s.quote_id} {status}",
            **LEDGER_WRITE.kwargs(),
        )
        payload: dict[str, Any] = {
            "quote_id": s.quote_id,
            "status": status,
            "stripe_quote_id": s.stripe_quote_id,
            "stripe_invoice_id": s.stripe_invoice_id,
            "stripe_subscription_id": s.stripe_subscription_id,
            "amount_total_minor": s.amount_total_minor,
            "currency": s.currency,
            **(extra or {}),
        }
        await notify(
            MerchantEvent(
                event_id=f"{s.workflow_id}:{event}", merchant_id=s.merchant_id, type=event, data=payload
            )
        )
