"""A small in-memory Stripe for the payment and refund workflow tests, plus the worker around it.

The fake registers activities under the real names, speaks the same models, and raises the same
ApplicationError types as `activities.stripe_errors`, so the workflows cannot tell it apart.
Ledger activities are the real ones, on the session's SQLite ledger.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments_ledger import PaymentLedgerActivities
from activities.stripe_errors import StripeErrorDetails
from billflow.ledger import Merchant
from billflow.ledger.db import Ledger, upsert
from billflow.local_temporal import start_time_skipping
from billflow.notifications import MerchantEvent
from billflow.payments import (
    CancelIntentInput,
    CaptureIntentInput,
    CreateIntentInput,
    CreateRefundInput,
    IntentRef,
    IntentView,
    RefundView,
)
from workflows.payment import PaymentWorkflow
from workflows.refund import RefundWorkflow
from workflows.sandbox import sandboxed_runner

DECLINES = {
    "pm_card_visa_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
THREE_DS = {"pm_card_threeDSecure2Required", "pm_card_authenticationRequired"}
FLAKY = "pm_card_flaky"  # the first create attempt fails with a retryable 500
SLOW = "pm_card_slow"  # Stripe takes a few seconds to answer


def card_error(
    code: str, decline_code: str | None, message: str, pi: str | None, kind: str
) -> ApplicationError:
    details = StripeErrorDetails(
        http_status=402,
        code=code,
        decline_code=decline_code,
        message=message,
        payment_intent_id=pi,
        payment_intent_status="requires_payment_method",
    )
    return ApplicationError(f"{kind}: {message}", details.model_dump(), type=kind, non_retryable=True)


class FakeStripe:
    """PaymentIntents and refunds in memory, with Stripe's idempotency on the keys it is given."""

    def __init__(self) -> None:
        self.intents: dict[str, IntentView] = {}
        self.replies: dict[str, IntentView | RefundView] = {}
        self.refunded: dict[str, int] = {}
        self.creates = 0
        self.refund_creates = 0
        self.attempts: dict[str, int] = {}
        self.manual: set[str] = set()
        self.capture_calls = 0
        self.capture_delay = 0.0

    # helpers the tests call, standing in for the customer's browser
    def complete_3ds(self, pi: str) -> None:
        intent = self.intents[pi]
        manual = pi in self.manual
        intent.status = "requires_capture" if manual else "succeeded"
        intent.amount_capturable = intent.amount if manual else 0
        intent.amount_received = 0 if manual else intent.amount
        intent.redirect_url = None

    def fail_3ds(self, pi: str) -> None:
        intent = self.intents[pi]
        intent.status = "requires_payment_method"
        intent.amount_capturable = 0
        intent.redirect_url = None
        intent.error_code = "payment_intent_authentication_failure"
        intent.error_message = "The provided PaymentMethod has failed authentication."

    @activity.defn(name="payments.create_intent")
    async def create_intent(self, data: CreateIntentInput) -> IntentView:
        self.attempts[data.idempotency_key] = self.attempts.get(data.idempotency_key, 0) + 1
        if data.payment_method == SLOW:
            await asyncio.sleep(3)
        if data.payment_method == FLAKY and activity.info().attempt == 1:
            raise ApplicationError("StripeUnavailable: 500 from Stripe", type="StripeUnavailable")
        if data.idempotency_key in self.replies:
            reply = self.replies[data.idempotency_key]
            assert isinstance(reply, IntentView)
            return reply.model_copy()
        self.creates += 1
        pi = f"pi_{uuid.uuid4().hex[:14]}"
        manual = data.capture_method == "manual"
        if data.payment_method in DECLINES:
            code, decline, message = DECLINES[data.payment_method]
            raise card_error(code, decline, message, pi, "CardDeclined")
        needs_auth = data.payment_method in THREE_DS
        if needs_auth and data.off_session:
            raise card_error(
                "authentication_required",
                "authentication_required",
                "This payment requires authentication.",
                pi,
                "AuthenticationRequired",
            )
        intent = IntentView(
            id=pi,
            status="requires_action" if needs_auth else ("requires_capture" if manual else "succeeded"),
            amount=data.amount_minor,
            amount_capturable=data.amount_minor if manual and not needs_auth else 0,
            amount_received=0 if manual or needs_auth else data.amount_minor,
            currency=data.currency,
            customer=data.customer,
            payment_method=data.payment_method,
            latest_charge=None if needs_auth else f"ch_{pi[3:]}",
            redirect_url=f"https://hooks.stripe.test/3ds/{pi}" if needs_auth else None,
        )
        self.intents[pi] = intent
        if manual:
            self.manual.add(pi)
        self.replies[data.idempotency_key] = intent.model_copy()
        return intent.model_copy()

    @activity.defn(name="payments.retrieve_intent")
    async def retrieve_intent(self, data: IntentRef) -> IntentView:
        return self.intents[data.payment_intent_id].model_copy()

    @activity.defn(name="payments.capture_intent")
    async def capture_intent(self, data: CaptureIntentInput) -> IntentView:
        self.capture_calls += 1
        if self.capture_delay:
            await asyncio.sleep(self.capture_delay)  # a slow Stripe: the capture is still in flight
        intent = self.intents[data.payment_intent_id]
        if intent.status != "requires_capture":
            raise ApplicationError(
                "InvalidRequest: unexpected state", type="InvalidRequest", non_retryable=True
            )
        intent.amount_received = data.amount_minor or intent.amount_capturable
        intent.amount_capturable = 0
        intent.status = "succeeded"
        return intent.model_copy()

    @activity.defn(name="payments.cancel_intent")
    async def cancel_intent(self, data: CancelIntentInput) -> IntentView:
        intent = self.intents[data.payment_intent_id]
        if intent.status != "succeeded":
            intent.status = "canceled"
            intent.amount_capturable = 0
            intent.redirect_url = None
        return intent.model_copy()

    @activity.defn(name="refunds.create_refund")
    async def create_refund(self, data: CreateRefundInput) -> RefundView:
        if data.idempotency_key in self.replies:
            reply = self.replies[data.idempotency_key]
            assert isinstance(reply, RefundView)
            return reply
        self.refund_creates += 1
        intent = self.intents[data.payment_intent_id]
        left = intent.amount_received - self.refunded.get(intent.id, 0)
        if data.amount_minor > left:
            details = StripeErrorDetails(
                http_status=400,
                code="charge_already_refunded" if left == 0 else "amount_too_large",
                message=f"Refund amount ({data.amount_minor}) is greater than unrefunded amount ({left}).",
            )
            raise ApplicationError(
                "InvalidRequest", details.model_dump(), type="InvalidRequest", non_retryable=True
            )
        self.refunded[intent.id] = self.refunded.get(intent.id, 0) + data.amount_minor
        view = RefundView(
            id=f"re_{uuid.uuid4().hex[:14]}",
            status="succeeded",
            amount=data.amount_minor,
            currency=intent.currency,
        )
        self.replies[data.idempotency_key] = view
        return view


@workflow.defn(name="NotifyMerchantWorkflow", sandboxed=False)
class FakeNotifyMerchant:
    """Stands in for the API branch's notifier: its result is the event type it was given."""

    @workflow.run
    async def run(self, event: MerchantEvent) -> str:
        return event.type


def add_merchant(
    ledger: Ledger, *, payment_threshold: int | None = None, refund_threshold: int | None = None
) -> str:
    merchant_id = f"m_{uuid.uuid4().hex[:10]}"
    with ledger.session() as session:
        upsert(
            session,
            Merchant,
            {
                "id": merchant_id,
                "name": "Test merchant",
                "payment_approval_threshold_minor": payment_threshold,
                "refund_approval_threshold_minor": refund_threshold,
            },
            ["id"],
        )
    return merchant_id


@asynccontextmanager
async def fresh_time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of its own for a test that skips time.

    On a shared server, skipping stalls once another test's run left an update or an abandoned
    child behind (observed with temporal-test-server 1.40), so tests that sleep get their own.
    """
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def payment_worker(
    client: Client, task_queue: str, ledger: Ledger, fake: FakeStripe
) -> AsyncIterator[Worker]:
    ledger_acts = PaymentLedgerActivities(ledger)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflow_runner=sandboxed_runner(),
        workflows=[PaymentWorkflow, RefundWorkflow, FakeNotifyMerchant],
        activities=[
            fake.create_intent,
            fake.retrieve_intent,
            fake.capture_intent,
            fake.cancel_intent,
            fake.create_refund,
            ledger_acts.record_payment,
            ledger_acts.reserve_refund,
            ledger_acts.settle_refund,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
    )
    async with worker:
        yield worker
