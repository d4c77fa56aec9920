"""QuoteWorkflow on the time-skipping server, with Stripe and the children faked by name."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from billflow.idempotency import stripe_key
from billflow.local_temporal import start_time_skipping
from billflow.notifications import MerchantEvent, notify_workflow_id
from billflow.quotes import (
    ACCEPT,
    PriceData,
    QuoteInput,
    QuoteLine,
    QuoteState,
    Recurring,
)
from billflow.signals import APPROVE, CANCEL, REJECT, STRIPE_EVENT, Decision, StripeEventSignal
from tests.replay.history_files import record_history
from tests.workflows.quote_fakes import FakeNotifyWorkflow, FakeStripe, FakeSubscriptionWorkflow
from workflows.common import start_attributes
from workflows.quote import QuoteWorkflow
from workflows.sandbox import sandboxed_runner
from workflows.subscription import SubscriptionInput

MERCHANT = "m_test"
MANAGER = Decision(by="manager@example.com", reason="margin ok")
CUSTOMER = Decision(by="customer@example.com")


def one_time(amount_minor: int = 120_000, quantity: int = 1) -> QuoteLine:
    return QuoteLine(
        price_data=PriceData(currency="usd", product="prod_consulting", unit_amount_minor=amount_minor),
        quantity=quantity,
    )


def quote_input(**overrides: object) -> QuoteInput:
    values: dict[str, object] = {
        "merchant_id": MERCHANT,
        "user_id": "u1",
        "line_items": [one_time()],
        "expires_in_days": 30,
        "poll_interval_seconds": 86_400,
    }
    values.update(overrides)
    return QuoteInput.model_validate(values)


@pytest.fixture
async def quote_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: a finished test can leave the shared server's clock locked."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@asynccontextmanager
async def running(env: WorkflowEnvironment, task_queue: str, fake: FakeStripe) -> AsyncIterator[None]:
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflow_runner=sandboxed_runner(),
        workflows=[QuoteWorkflow, FakeNotifyWorkflow, FakeSubscriptionWorkflow],
        activities=fake.activities(),
    ):
        yield


async def start(
    env: WorkflowEnvironment, task_queue: str, data: QuoteInput
) -> WorkflowHandle[QuoteWorkflow, QuoteState]:
    return await env.client.start_workflow(
        QuoteWorkflow.run,
        data,
        id=f"quote/{MERCHANT}/{uuid.uuid4().hex}",
        task_queue=task_queue,
        search_attributes=start_attributes("quote", "creating", MERCHANT),
        static_summary="test quote",
    )


async def reach(handle: WorkflowHandle[QuoteWorkflow, QuoteState], status: str) -> QuoteState:
    """Poll the state query (time does not move while the test is not awaiting a result)."""
    state: QuoteState | None = None
    for _ in range(400):
        state = await handle.query(QuoteWorkflow.state)
        if state.status == status:
            return state
        await asyncio.sleep(0.025)
    raise AssertionError(f"never reached {status}; last state {state}")


async def notified(env: WorkflowEnvironment, workflow_id: str, event: str) -> MerchantEvent:
    handle = env.client.get_workflow_handle(
        notify_workflow_id(MERCHANT, f"{workflow_id}:{event}"), result_type=MerchantEvent
    )
    got: MerchantEvent = await handle.result()
    return got


async def test_approve_accept_invoice_paid(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe(auto_approve_below_minor=50_000)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input(line_items=[one_time(60_000, 2)]))
        waiting = await reach(handle, "awaiting_approval")
        assert waiting.amount_total_minor == 120_000
        assert fake.called("quotes.finalize") == [], "nothing is finalized before approval"
        await handle.signal(QuoteWorkflow.accept, CUSTOMER)  # too early: kept until the quote is open
        await handle.signal(APPROVE, MANAGER)
        result = await handle.result()
        finalized = await notified(quote_env, handle.id, "quote.finalized")
        paid = await notified(quote_env, handle.id, "invoice.paid")
        history = await handle.fetch_history()
        await record_history(handle, "quote_approved_accepted_paid")
    # The recorded history replays on today's code: no nondeterminism in the flow.
    await Replayer(workflows=[QuoteWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
    wid = handle.id
    assert result.status == "paid"
    assert result.approved_by == "manager@example.com"
    assert result.stripe_invoice_id == "in_1"
    assert fake.called("quotes.create") == [stripe_key(wid, "create_quote")]
    assert fake.called("quotes.accept") == [stripe_key(wid, "accept_quote")]
    assert fake.called("invoices.finalize") == [stripe_key(wid, "finalize_invoice")]
    assert fake.called("invoices.pay") == [stripe_key(wid, "pay_invoice")]
    assert [r.status for r in fake.quote_rows] == [
        "draft",
        "awaiting_approval",
        "open",
        "accepted",
        "invoice_open",
        "paid",
    ]
    assert fake.invoice_rows[-1].invoice.status == "paid"
    assert finalized.data["pdf_url"] == "https://files.example/qt_1.pdf"
    assert paid.data["stripe_invoice_id"] == "in_1"


async def test_reject_cancels_the_quote(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe()
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input())
        await reach(handle, "awaiting_approval")
        await handle.signal(REJECT, Decision(by="boss@example.com", reason="too cheap"))
        result = await handle.result()
        event = await notified(quote_env, handle.id, "quote.rejected")
    assert result.status == "rejected"
    assert result.decided_reason == "too cheap"
    assert fake.quotes["qt_1"].status == "canceled"
    assert fake.called("quotes.finalize") == []
    assert event.data["by"] == "boss@example.com"


async def test_expiry_cancels_the_open_quote(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input(expires_in_days=10))
        state = await reach(handle, "open")
        assert state.approved_by == "auto"
        assert fake.called("quotes.cancel") == []
        result = await handle.result()  # awaiting the result lets the server skip the 10 days
    assert result.status == "expired"
    assert fake.quotes["qt_1"].status == "canceled"
    assert fake.called("quotes.accept") == []


async def test_cancel_after_finalize(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input())
        await reach(handle, "open")
        await handle.signal(CANCEL, Decision(by="sales@example.com", reason="customer went elsewhere"))
        result = await handle.result()
    assert result.status == "canceled"
    assert fake.quotes["qt_1"].status == "canceled"
    assert fake.called("quotes.cancel") == [stripe_key(handle.id, "cancel_quote")]
    assert fake.called("quotes.accept") == []


async def test_send_invoice_paid_after_webhook(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9)
    data = quote_input(collection_method="send_invoice", days_until_due=14)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, data)
        await reach(handle, "open")
        await handle.signal(ACCEPT, CUSTOMER)
        state = await reach(handle, "invoice_open")
        while state.invoice_due_at is None:  # sent: now it follows the invoice
            state = await handle.query(QuoteWorkflow.state)
            await asyncio.sleep(0.025)
        fake.invoice_paid_on_retrieve = True  # the customer pays the hosted invoice
        await handle.signal(
            STRIPE_EVENT,
            StripeEventSignal(event_id="evt_1", type="invoice.paid", object_type="invoice", object_id="in_1"),
        )
        result = await handle.result()
    assert state.stripe_invoice_id == "in_1"
    assert result.status == "paid"
    assert fake.called("invoices.send") == [stripe_key(handle.id, "send_invoice")]
    assert fake.called("invoices.pay") == []
    assert fake.called("invoices.mark_uncollectible") == []


async def test_send_invoice_uncollectible_after_due_date(
    quote_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9)
    data = quote_input(collection_method="send_invoice", days_until_due=14, grace_days=3)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, data)
        await reach(handle, "open")
        await handle.signal(ACCEPT, CUSTOMER)
        result = await handle.result()  # nobody pays: 14 days + 3 days of grace are skipped
    assert result.status == "uncollectible"
    assert result.invoice_due_at is not None
    assert fake.called("invoices.mark_uncollectible") == [stripe_key(handle.id, "mark_uncollectible")]
    assert len(fake.called("invoices.retrieve")) >= 17, "polled daily while waiting"
    assert fake.invoice_rows[-1].invoice.status == "uncollectible"


async def test_recurring_quote_becomes_subscription_child(
    quote_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9)
    line = QuoteLine(
        price_data=PriceData(
            currency="usd",
            product="prod_gold",
            unit_amount_minor=2_000,
            recurring=Recurring(interval="month"),
        )
    )
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input(line_items=[line]))
        await reach(handle, "open")
        await handle.signal(ACCEPT, CUSTOMER)
        result = await handle.result()
        assert result.subscription_workflow_id is not None
        child_handle = quote_env.client.get_workflow_handle(
            result.subscription_workflow_id, result_type=SubscriptionInput
        )
        child = await child_handle.result()
    assert result.status == "subscribed"
    assert result.stripe_subscription_id == "sub_1"
    assert child == SubscriptionInput(
        merchant_id=MERCHANT,
        user_id="u1",
        stripe_customer_id="cus_u1",
        price_id="price_gold",
        adopt_subscription_id="sub_1",
        currency="usd",
    )
    assert fake.called("invoices.finalize") == []


async def test_retryable_stripe_error_is_retried_with_the_same_key(
    quote_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9, create_failures=1, invoice_finalize_failures=1)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input())
        await reach(handle, "open")
        await handle.signal(ACCEPT, CUSTOMER)
        result = await handle.result()
    key = stripe_key(handle.id, "create_quote")
    assert fake.called("quotes.create") == [key, key], "one failure, one retry, same idempotency key"
    finalize = stripe_key(handle.id, "finalize_invoice")
    assert fake.called("invoices.finalize") == [finalize, finalize], "mid-way: after acceptance"
    assert len(fake.quotes) == 1
    assert result.status == "paid"


async def test_declined_charge_ends_uncollectible(quote_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeStripe(auto_approve_below_minor=10**9, decline_payment=True)
    async with running(quote_env, task_queue, fake):
        handle = await start(quote_env, task_queue, quote_input(grace_days=2))
        await reach(handle, "open")
        await handle.signal(ACCEPT, CUSTOMER)
        result = await handle.result()
    assert result.status == "uncollectible"
    assert result.failure is not None and "CardDeclined" in result.failure
    assert "payment_failed" in [r.status for r in fake.quote_rows]
