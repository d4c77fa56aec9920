"""RefundWorkflow through the starter helpers (update-with-start) on the dev server, real ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from billflow.config import Settings
from billflow.ledger import Payment, Refund
from billflow.ledger.db import Ledger
from billflow.payments import PaymentCreate, PaymentState, RefundCreate, RefundState, RefundStatus
from billflow.signals import Decision
from starter.payments import create_payment, create_refund, decide_refund
from tests.replay.history_files import record_history
from tests.workflows.payment_fakes import FakeStripe, add_merchant, payment_worker


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(sqlite_url)
    yield led
    led.dispose()


class Shop:
    def __init__(
        self, env: WorkflowEnvironment, ledger: Ledger, settings: Settings, tq: str, merchant: str
    ) -> None:
        self.env, self.ledger, self.settings, self.tq, self.merchant_id = env, ledger, settings, tq, merchant

    async def pay(self, amount: str = "50.00") -> PaymentState:
        body = PaymentCreate(amount=Decimal(amount), currency="eur", payment_method="pm_card_visa")
        return await create_payment(
            self.env.client,
            self.ledger,
            self.settings,
            self.merchant_id,
            uuid.uuid4().hex,
            body,
            task_queue=self.tq,
        )

    async def refund(self, payment_id: str, amount: str | None, key: str | None = None) -> RefundState:
        body = RefundCreate(payment_id=payment_id, amount=Decimal(amount) if amount else None)
        return await create_refund(
            self.env.client,
            self.ledger,
            self.settings,
            self.merchant_id,
            key or uuid.uuid4().hex,
            body,
            task_queue=self.tq,
        )

    def refunded(self, payment_id: str) -> int:
        with self.ledger.session() as session:
            payment = session.get(Payment, payment_id)
            assert payment is not None
            return payment.amount_refunded_minor


@pytest.fixture
def shop(dev_env: WorkflowEnvironment, ledger: Ledger, sqlite_url: str, task_queue: str) -> Shop:
    merchant = add_merchant(ledger, refund_threshold=100_000)
    return Shop(dev_env, ledger, Settings(database_url=sqlite_url), task_queue, merchant)


async def test_partial_then_full_refund(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("50.00")
        partial = await shop.refund(paid.payment_id, "20.00")
        await record_history(shop.env.client.get_workflow_handle(partial.workflow_id), "refund_partial")
        rest = await shop.refund(paid.payment_id, None)
        nothing_left = await shop.refund(paid.payment_id, "0.01")
    assert (partial.status, partial.amount_minor) == (RefundStatus.SUCCEEDED, 2000)
    assert (rest.status, rest.amount_minor) == (RefundStatus.SUCCEEDED, 3000)
    assert nothing_left.status == RefundStatus.FAILED
    assert nothing_left.failure_code == "charge_already_refunded"
    assert shop.refunded(paid.payment_id) == 5000
    assert fake.refund_creates == 2


async def test_over_refund_is_refused_before_stripe(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("50.00")
        refused = await shop.refund(paid.payment_id, "50.01")
    assert refused.status == RefundStatus.FAILED
    assert refused.failure_code == "amount_exceeds_refundable"
    assert refused.failure_reason and "50.00 EUR left" in refused.failure_reason
    assert fake.refund_creates == 0 and shop.refunded(paid.payment_id) == 0


async def test_stripe_rejection_releases_the_reservation(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("50.00")
        assert paid.payment_intent_id
        fake.refunded[paid.payment_intent_id] = 4000  # refunded in the Stripe dashboard, unknown to billflow
        refused = await shop.refund(paid.payment_id, "20.00")
    assert refused.status == RefundStatus.FAILED
    assert refused.failure_code == "amount_too_large"
    assert shop.refunded(paid.payment_id) == 0
    with shop.ledger.session() as session:
        row = session.query(Refund).filter_by(workflow_id=refused.workflow_id).one()
        assert row.status == "failed"


async def test_two_concurrent_refunds_never_exceed_the_capture(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("50.00")
        one, two = await asyncio.gather(
            shop.refund(paid.payment_id, "30.00"), shop.refund(paid.payment_id, "30.00")
        )
    statuses = sorted([one.status, two.status])
    assert statuses == [RefundStatus.FAILED, RefundStatus.SUCCEEDED]
    assert shop.refunded(paid.payment_id) == 3000
    assert paid.payment_intent_id and fake.refunded[paid.payment_intent_id] == 3000


async def test_same_refund_key_is_one_refund(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("50.00")
        key = uuid.uuid4().hex
        first = await shop.refund(paid.payment_id, "10.00", key=key)
        again = await shop.refund(paid.payment_id, "10.00", key=key)
    assert first.refund_id == again.refund_id and first.stripe_refund_id == again.stripe_refund_id
    assert fake.refund_creates == 1 and shop.refunded(paid.payment_id) == 1000


async def test_refund_above_threshold_waits_for_approval(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("2000.00")
        pending = await shop.refund(paid.payment_id, "1500.00")
        assert pending.status == RefundStatus.REQUIRES_APPROVAL
        assert fake.refund_creates == 0
        assert shop.refunded(paid.payment_id) == 150_000  # reserved while waiting
        await decide_refund(
            shop.env.client,
            shop.ledger,
            shop.merchant_id,
            pending.refund_id,
            True,
            Decision(by="cfo@example.com"),
        )
        done = await shop.env.client.get_workflow_handle(
            pending.workflow_id, result_type=RefundState
        ).result()
    assert (
        done.status == RefundStatus.SUCCEEDED and done.approval and done.approval["by"] == "cfo@example.com"
    )
    assert fake.refund_creates == 1


async def test_rejected_refund_gives_the_amount_back(shop: Shop) -> None:
    fake = FakeStripe()
    async with payment_worker(shop.env.client, shop.tq, shop.ledger, fake):
        paid = await shop.pay("2000.00")
        pending = await shop.refund(paid.payment_id, "1500.00")
        await decide_refund(
            shop.env.client,
            shop.ledger,
            shop.merchant_id,
            pending.refund_id,
            False,
            Decision(by="cfo@example.com"),
        )
        done = await shop.env.client.get_workflow_handle(
            pending.workflow_id, result_type=RefundState
        ).result()
    assert (done.status, done.failure_code) == (RefundStatus.FAILED, "approval_rejected")
    assert shop.refunded(paid.payment_id) == 0 and fake.refund_creates == 0
