"""PaymentWorkflow on the time-skipping server: every path, started the way the API starts it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments_ledger import PaymentLedgerActivities
from billflow.config import Settings
from billflow.ledger import Payment
from billflow.ledger.db import Ledger
from billflow.notifications import notify_workflow_id
from billflow.payments import (
    CAPTURE_UPDATE,
    CUSTOMER_RETURNED,
    OUTCOME_UPDATE,
    PaymentCreate,
    PaymentInput,
    PaymentRecord,
    PaymentState,
    PaymentStatus,
    payment_id_for,
)
from billflow.signals import APPROVE, CANCEL, REJECT, STATE_QUERY, STRIPE_EVENT, Decision, StripeEventSignal
from starter.payments import PaymentRequestError, create_payment, submit_payment
from tests.replay.history_files import record_history
from tests.workflows.payment_fakes import (
    FLAKY,
    SLOW,
    FakeNotifyMerchant,
    FakeStripe,
    add_merchant,
    fresh_time_skipping,
    payment_worker,
)
from workflows.common import start_attributes
from workflows.payment import PaymentWorkflow


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(sqlite_url)
    yield led
    led.dispose()


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


class Run:
    """One payment started through update-with-start, with shortcuts to steer and inspect it."""

    def __init__(self, env: WorkflowEnvironment, ledger: Ledger, task_queue: str, merchant_id: str) -> None:
        self.env, self.ledger, self.task_queue, self.merchant_id = env, ledger, task_queue, merchant_id
        self.workflow_id = f"payment/{merchant_id}/{uuid.uuid4().hex[:8]}"
        self._started: WorkflowHandle[PaymentWorkflow, PaymentState] | None = None

    def input(self, pm: str, amount: int = 5000, **kw: object) -> PaymentInput:
        return PaymentInput.model_validate(
            {
                "merchant_id": self.merchant_id,
                "payment_id": payment_id_for(self.workflow_id),
                "amount_minor": amount,
                "currency": "usd",
                "payment_method": pm,
                "three_ds_timeout_seconds": 3600,
                "approval_timeout_seconds": 3 * 24 * 3600,
                **kw,
            }
        )

    async def start(self, pm: str, amount: int = 5000, **kw: object) -> PaymentState:
        """Start, then ask for the first outcome with a separate update.

        The time-skipping server stops skipping time after an update-with-start, so the API's
        one-call path (`submit_payment`) is exercised on the dev server below instead.
        """
        data = self.input(pm, amount, **kw)
        handle = await self.env.client.start_workflow(
            PaymentWorkflow.run,
            data,
            id=self.workflow_id,
            task_queue=self.task_queue,
            search_attributes=start_attributes("payment", "processing", self.merchant_id),
        )
        self._started = handle
        first: PaymentState = await handle.execute_update(OUTCOME_UPDATE, result_type=PaymentState)
        return first

    @property
    def handle(self) -> WorkflowHandle[object, PaymentState]:
        return self.env.client.get_workflow_handle(self.workflow_id, result_type=PaymentState)

    async def result(self) -> PaymentState:
        """The final state; on the time-skipping server this skips time until the run ends."""
        if self._started is not None:
            return await self._started.result()
        return await self.handle.result()

    def row(self) -> Payment:
        with self.ledger.session() as session:
            row = session.query(Payment).filter_by(workflow_id=self.workflow_id).one()
            session.expunge(row)
            return row

    async def notified(self, event_type: str) -> bool:
        handle = self.env.client.get_workflow_handle(
            notify_workflow_id(self.merchant_id, f"{self.workflow_id}:{event_type}")
        )
        result: str = await handle.result()
        return result == event_type


@pytest.fixture
async def run(ledger: Ledger, task_queue: str) -> AsyncIterator[Run]:
    async with fresh_time_skipping() as env:
        yield Run(env, ledger, task_queue, add_merchant(ledger, payment_threshold=100_000))


async def test_frictionless_card_completes(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa")
        assert first.status == PaymentStatus.COMPLETED
        assert first.amount_captured_minor == 5000
        final = await run.result()
        assert await run.notified("payment.completed")
        await record_history(run.handle, "payment_frictionless")
    assert final.payment_intent_id == first.payment_intent_id
    row = run.row()
    assert (row.status, row.amount_captured_minor, row.stripe_payment_intent_id) == (
        "completed",
        5000,
        first.payment_intent_id,
    )


@pytest.mark.parametrize(
    ("pm", "decline_code"),
    [
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
async def test_decline_fails_with_decline_code(
    run: Run, fake: FakeStripe, pm: str, decline_code: str
) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start(pm)
        assert first.status == PaymentStatus.FAILED
        assert first.failure_code == decline_code
        assert first.failure_reason and "card" in first.failure_reason
        await run.result()
        assert await run.notified("payment.failed")
    assert run.row().failure_code == decline_code


async def test_3ds_completed_by_webhook(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_threeDSecure2Required", return_url="https://shop.test/back")
        assert first.status == PaymentStatus.PENDING
        assert first.redirect_url and first.payment_intent_id
        assert await run.notified("payment.requires_action")
        waiting = await run.handle.query(STATE_QUERY, result_type=PaymentState)
        assert waiting.waiting is not None and STRIPE_EVENT in waiting.waiting.ends_with
        fake.complete_3ds(first.payment_intent_id)
        event = StripeEventSignal(
            event_id="evt_1", type="payment_intent.succeeded", object_type="payment_intent", object_id="pi"
        )
        await run.handle.signal(STRIPE_EVENT, event)
        await run.handle.signal(STRIPE_EVENT, event)  # a duplicate delivery changes nothing
        final = await run.result()
    assert final.status == PaymentStatus.COMPLETED
    assert final.amount_captured_minor == 5000 and final.redirect_url is None
    assert run.row().status == "completed"


async def test_3ds_completed_found_by_polling(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_threeDSecure2Required")
        assert first.payment_intent_id
        fake.complete_3ds(first.payment_intent_id)  # no webhook, no return: the poll finds it
        final = await run.result()
    assert final.status == PaymentStatus.COMPLETED


async def test_3ds_failure_fails_the_payment(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_threeDSecure2Required")
        assert first.payment_intent_id
        fake.fail_3ds(first.payment_intent_id)
        await run.handle.signal(CUSTOMER_RETURNED)
        final = await run.result()
    assert final.status == PaymentStatus.FAILED
    assert final.failure_code == "payment_intent_authentication_failure"


async def test_3ds_timeout_cancels_the_intent(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_threeDSecure2Required")
        assert first.payment_intent_id
        final = await run.result()  # the hour for 3-D Secure passes in skipped time
        assert await run.notified("payment.failed")
    assert final.status == PaymentStatus.FAILED
    assert final.failure_code == "authentication_timeout"
    assert fake.intents[first.payment_intent_id].status == "canceled"
    assert run.row().failure_code == "authentication_timeout"


async def test_approval_granted_then_captured(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", amount=250_000, approval_threshold_minor=100_000)
        assert first.status == PaymentStatus.REQUIRES_APPROVAL
        assert first.capture_method == "manual" and first.amount_capturable_minor == 250_000
        await run.handle.signal(APPROVE, Decision(by="alice@example.com", reason="known customer"))
        final = await run.result()
        await record_history(run.handle, "payment_approved_then_captured")
    assert final.status == PaymentStatus.COMPLETED
    assert final.amount_captured_minor == 250_000
    assert final.approval == {"decision": "approve", "by": "alice@example.com", "reason": "known customer"}


async def test_approval_rejected_releases_the_hold(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", amount=250_000, approval_threshold_minor=100_000)
        assert first.payment_intent_id
        await run.handle.signal(REJECT, Decision(by="bob@example.com", reason="looks like fraud"))
        final = await run.result()
    assert final.status == PaymentStatus.FAILED
    assert final.failure_code == "approval_rejected"
    assert final.failure_reason == "rejected by bob@example.com: looks like fraud"
    assert fake.intents[first.payment_intent_id].status == "canceled"


async def test_approval_timeout_cancels(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", amount=250_000, approval_threshold_minor=100_000)
        assert first.payment_intent_id
        final = await run.result()
    assert (final.status, final.failure_code) == (PaymentStatus.FAILED, "approval_timeout")
    assert fake.intents[first.payment_intent_id].status == "canceled"


async def test_manual_partial_capture(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", capture="manual")
        assert first.status == PaymentStatus.REQUIRES_CAPTURE and first.amount_capturable_minor == 5000
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await run.handle.execute_update(CAPTURE_UPDATE, 9000, result_type=PaymentState)
        assert "capture amount" in str(refused.value.cause)
        captured = await run.handle.execute_update(CAPTURE_UPDATE, 3000, result_type=PaymentState)
        assert captured.status == PaymentStatus.COMPLETED
        await run.result()
    assert captured.amount_captured_minor == 3000
    assert run.row().amount_captured_minor == 3000


async def test_cancel_releases_authorisation(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", capture="manual")
        assert first.payment_intent_id
        await run.handle.signal(CANCEL, Decision(by="shop", reason="order withdrawn"))
        final = await run.result()
        assert await run.notified("payment.canceled")
    assert final.status == PaymentStatus.CANCELED
    assert fake.intents[first.payment_intent_id].status == "canceled"
    assert run.row().status == "canceled"


async def test_off_session_saved_card_needing_authentication_fails(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_authenticationRequired", customer="cus_123", off_session=True)
    assert first.status == PaymentStatus.FAILED
    assert first.failure_code == "authentication_required"


async def test_retryable_stripe_error_succeeds_on_retry(run: Run, fake: FakeStripe) -> None:
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start(FLAKY)
    assert first.status == PaymentStatus.COMPLETED
    assert sum(fake.attempts.values()) == 2 and fake.creates == 1


async def test_same_key_twice_is_one_payment(
    dev_env: WorkflowEnvironment, ledger: Ledger, task_queue: str, fake: FakeStripe, sqlite_url: str
) -> None:
    """Update-with-start through the starter helper, as the API calls it, on the real dev server."""
    run = Run(dev_env, ledger, task_queue, add_merchant(ledger))
    settings = Settings(database_url=sqlite_url)
    body = PaymentCreate(amount=Decimal("12.34"), currency="usd", payment_method="pm_card_visa")
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        key = uuid.uuid4().hex
        one = await create_payment(
            run.env.client, run.ledger, settings, run.merchant_id, key, body, task_queue=run.task_queue
        )
        two = await create_payment(
            run.env.client, run.ledger, settings, run.merchant_id, key, body, task_queue=run.task_queue
        )
        with pytest.raises(PaymentRequestError) as refused:
            await create_payment(
                run.env.client,
                run.ledger,
                settings,
                run.merchant_id,
                key,
                body.model_copy(update={"amount": Decimal("99.00")}),
                task_queue=run.task_queue,
            )
    assert one.payment_id == two.payment_id and one.payment_intent_id == two.payment_intent_id
    assert one.amount_minor == 1234
    assert fake.creates == 1
    assert refused.value.status == 409


async def test_slow_stripe_answers_processing_then_completes(
    dev_env: WorkflowEnvironment, ledger: Ledger, task_queue: str, fake: FakeStripe
) -> None:
    run = Run(dev_env, ledger, task_queue, add_merchant(ledger))
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await submit_payment(
            run.env.client,
            run.input(SLOW),
            workflow_id=run.workflow_id,
            task_queue=run.task_queue,
            wait_seconds=0.5,
        )
        assert first.status == PaymentStatus.PROCESSING
        final = await run.result()
    assert final.status == PaymentStatus.COMPLETED


async def test_a_status_is_shown_only_once_the_ledger_has_it(
    dev_env: WorkflowEnvironment, ledger: Ledger, task_queue: str, fake: FakeStripe
) -> None:
    """While the ledger write of `completed` is in flight (a worker killed in the middle of it makes
    that last 30 s), the state query still says `processing`: the API's GET shows the query, and a
    refund started on what it showed is checked against the ledger, which must agree."""
    run = Run(dev_env, ledger, task_queue, add_merchant(ledger))
    real = PaymentLedgerActivities(ledger)
    writing, release = threading.Event(), threading.Event()

    @activity.defn(name="payments.record_payment")
    def gated_record(record: PaymentRecord) -> None:
        if record.state.status == PaymentStatus.COMPLETED:
            writing.set()
            release.wait(20)
        real.record_payment(record)

    worker = Worker(
        run.env.client,
        task_queue=run.task_queue,
        workflows=[PaymentWorkflow, FakeNotifyMerchant],
        activities=[fake.create_intent, fake.retrieve_intent, gated_record],
        activity_executor=ThreadPoolExecutor(max_workers=4),
    )
    async with worker:
        await run.env.client.start_workflow(
            PaymentWorkflow.run,
            run.input("pm_card_visa"),
            id=run.workflow_id,
            task_queue=run.task_queue,
            search_attributes=start_attributes("payment", "processing", run.merchant_id),
        )
        assert await asyncio.to_thread(writing.wait, 20)
        during = await run.handle.query(STATE_QUERY, result_type=PaymentState)
        ledger_during = run.row().status
        release.set()
        final = await run.result()
    assert (during.status.value, ledger_during) == ("processing", "processing")
    assert final.status == PaymentStatus.COMPLETED and run.row().status == "completed"


async def test_a_repeated_capture_waits_for_the_same_capture(run: Run, fake: FakeStripe) -> None:
    """A client whose capture answer was lost asks again: one Stripe capture, both get the outcome."""
    fake.capture_delay = 1.0
    async with payment_worker(run.env.client, run.task_queue, run.ledger, fake):
        first = await run.start("pm_card_visa", capture="manual")
        assert first.status == PaymentStatus.REQUIRES_CAPTURE
        original = await run.handle.start_update(
            CAPTURE_UPDATE, 3000, result_type=PaymentState, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        with pytest.raises(WorkflowUpdateFailedError) as other_amount:
            await run.handle.execute_update(CAPTURE_UPDATE, 4000, result_type=PaymentState)
        assert "already being captured" in str(other_amount.value.cause)
        repeated = await run.handle.execute_update(CAPTURE_UPDATE, 3000, result_type=PaymentState)
        assert (await original.result()) == repeated
        await run.result()
    assert repeated.status == PaymentStatus.COMPLETED and repeated.amount_captured_minor == 3000
    assert fake.capture_calls == 1
