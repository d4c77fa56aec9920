"""SubscriptionWorkflow under time skipping, against an in-memory Stripe subscription model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from billflow.local_temporal import start_time_skipping
from billflow.signals import CANCEL, Decision
from billflow.subscriptions import (
    CHANGE_PLAN,
    PAUSE,
    RESUME,
    UPDATE_CARD,
    CancelRequest,
    ChangePlan,
    Plan,
    SubscriptionResult,
    SubscriptionState,
    UpdateCard,
)
from tests.replay.history_files import record_history
from tests.workflows.subscription_fakes import NOTIFIED, FakeStripe, fake_worker, new_merchant
from workflows.subscription import SubscriptionInput, SubscriptionWorkflow

DAY = timedelta(days=1)


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test (overrides the session one).

    The test server stops skipping time for good once an abandoned child (the merchant notification)
    finishes after its parent run closed (sdk-java #1539); a fresh server keeps that from leaking
    into the next test. Production servers have no such lock.
    """
    env = await start_time_skipping()
    yield env
    await env.shutdown()


def _types(merchant: str) -> list[str]:
    return [e.type for e in NOTIFIED.get(merchant, [])]


async def _start(
    env: WorkflowEnvironment, tq: str, data: SubscriptionInput
) -> WorkflowHandle[SubscriptionWorkflow, SubscriptionResult]:
    handle = await env.client.start_workflow(
        SubscriptionWorkflow.run,
        data,
        id=f"subscription/{data.merchant_id}/{uuid.uuid4().hex[:8]}",
        task_queue=tq,
        static_summary="test subscription",
    )
    return handle


async def _state(handle: WorkflowHandle[SubscriptionWorkflow, SubscriptionResult]) -> SubscriptionState:
    return await handle.query(SubscriptionWorkflow.state)


async def run_event_counts(handle: WorkflowHandle[SubscriptionWorkflow, SubscriptionResult]) -> list[int]:
    """Event counts of every run of the workflow, newest first, walking the continue-as-new chain."""
    counts: list[int] = []
    run_id: str | None = None
    client = handle._client
    while True:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        counts.append(len(history.events))
        started = history.events[0]
        assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        previous = started.workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return counts
        run_id = previous


async def test_ten_years_of_monthly_renewals_keep_each_history_small(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u1",
        amount_minor=1500,
        currency="usd",
        payment_method_id="pm_card_visa",
        cancel_after_periods=121,  # the first charge and 120 renewals, then the end of the term
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        result = await handle.result()
        assert (await _state(handle)).period == 121
    assert result.status == "canceled" and result.periods_paid == 121 and result.failures == 0
    counts = await run_event_counts(handle)
    assert len(counts) == 121
    assert max(counts) < 200, counts
    renewed = [e for e in NOTIFIED[merchant] if e.type == "subscription.renewed"]
    assert [e.data["period"] for e in renewed] == list(range(2, 122))
    assert len({e.event_id for e in renewed}) == 120
    paid = [i for i in stripe.ledger_invoices.values() if i.status == "paid"]
    assert len(paid) == 121 and all(i.amount_paid == 1500 for i in paid)


async def test_failing_card_walks_the_dunning_schedule_then_cancels(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u2",
        price_id="price_basic",
        trial_days=7,
        payment_method_id="pm_card_chargeCustomerFail",
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        result = await handle.result()
        await record_history(handle, "subscription_dunning_then_canceled")
    assert result.status == "canceled"
    assert result.failures == 4 and result.periods_paid == 0
    assert [p.idempotency_key for p in stripe.pay_calls] == list(
        dict.fromkeys(p.idempotency_key for p in stripe.pay_calls)
    )
    assert len(stripe.pay_calls) == 3
    types = _types(merchant)
    assert types == [
        "subscription.activated",
        "subscription.past_due",
        "subscription.past_due",
        "subscription.past_due",
        "subscription.past_due",
        "subscription.canceled",
    ]
    sub = next(iter(stripe.subs.values()))
    assert sub.status == "canceled"
    assert stripe.ledger[next(iter(stripe.ledger))].subscription.status == "canceled"


async def test_new_card_during_dunning_recovers_at_once(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u3",
        price_id="price_basic",
        trial_days=7,
        payment_method_id="pm_card_chargeCustomerFail",
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(timedelta(days=7, hours=12))  # trial over, first charge failed, no retry yet
        state = await _state(handle)
        assert state.status == "past_due" and state.failures == 1
        await handle.signal(UPDATE_CARD, UpdateCard(payment_method_id="pm_card_visa"))
        await ts_env.sleep(timedelta(hours=1))
        state = await _state(handle)
        assert (
            state.status == "active" and state.periods_paid == 1 and state.payment_method_id == "pm_card_visa"
        )
        assert len(stripe.pay_calls) == 1 and stripe.pay_calls[0].payment_method_id == "pm_card_visa"
        await ts_env.sleep(timedelta(days=31))
        assert (await _state(handle)).periods_paid == 2
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    assert _types(merchant)[:3] == ["subscription.activated", "subscription.past_due", "subscription.renewed"]


async def test_cancel_at_period_end(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant, user_id="u4", price_id="price_basic", payment_method_id="pm_card_visa"
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(timedelta(days=40))  # one renewal
        await handle.signal(CANCEL, CancelRequest(by="test", reason="moving out", at_period_end=True))
        await ts_env.sleep(DAY)
        state = await _state(handle)
        assert state.cancel_at_period_end and state.status == "active"
        result = await handle.result()
        assert "period end" in ((await _state(handle)).ended_reason or "")
    assert result.status == "canceled" and result.periods_paid == 2
    assert _types(merchant) == ["subscription.activated", "subscription.renewed", "subscription.canceled"]


async def test_pause_skips_a_period_and_resume_charges_again(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant, user_id="u5", price_id="price_basic", payment_method_id="pm_card_visa"
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(DAY * 3)
        await handle.signal(PAUSE, Decision(by="test"))
        await ts_env.sleep(DAY * 35)  # the first renewal falls inside the pause
        state = await _state(handle)
        assert state.status == "paused" and state.period == 2 and state.periods_paid == 1
        await handle.signal(RESUME, Decision(by="test"))
        await ts_env.sleep(DAY * 31)
        state = await _state(handle)
        assert state.status == "active" and state.period == 3 and state.periods_paid == 2
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    statuses = [i.status for i in stripe.ledger_invoices.values()]
    assert statuses == ["paid", "void", "paid"]
    assert _types(merchant) == ["subscription.activated", "subscription.renewed", "subscription.canceled"]


async def test_plan_change_mid_period_bills_the_new_price_next(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant, user_id="u6", price_id="price_basic", payment_method_id="pm_card_visa"
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(DAY * 15)
        await handle.signal(
            CHANGE_PLAN, ChangePlan(plan=Plan(price_id="price_pro"), proration_behavior="always_invoice")
        )
        await ts_env.sleep(DAY * 20)
        state = await _state(handle)
        assert state.price_id == "price_pro" and state.amount_minor == 2500 and state.periods_paid == 2
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    by_reason = {(i.billing_reason, i.amount_paid) for i in stripe.ledger_invoices.values()}
    assert by_reason == {
        ("subscription_create", 1000),
        ("subscription_update", 1500),
        ("subscription_cycle", 2500),
    }


async def test_trial_then_first_charge(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u7",
        amount_minor=900,
        currency="eur",
        trial_days=14,
        payment_method_id="pm_card_visa",
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(DAY * 2)
        state = await _state(handle)
        assert state.status == "trialing" and state.periods_paid == 0
        await ts_env.sleep(DAY * 13)
        state = await _state(handle)
        assert state.status == "active" and state.periods_paid == 1 and state.period == 2
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    renewed = [e for e in NOTIFIED[merchant] if e.type == "subscription.renewed"]
    assert len(renewed) == 1 and renewed[0].data["amount_paid"] == 900


async def test_failing_first_charge_leaves_it_incomplete_until_a_new_card(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u8",
        price_id="price_basic",
        payment_method_id="pm_card_chargeCustomerFail",
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(timedelta(hours=1))
        assert (await _state(handle)).status == "incomplete"
        await handle.signal(UPDATE_CARD, UpdateCard(payment_method_id="pm_card_visa"))
        await ts_env.sleep(timedelta(hours=1))
        state = await _state(handle)
        assert state.status == "active" and state.periods_paid == 1
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    assert _types(merchant) == ["subscription.incomplete", "subscription.activated", "subscription.canceled"]


async def test_unpaid_first_charge_expires(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    stripe, merchant = FakeStripe(), new_merchant()
    data = SubscriptionInput(
        merchant_id=merchant,
        user_id="u9",
        price_id="price_basic",
        payment_method_id="pm_card_chargeCustomerFail",
    )
    async with fake_worker(ts_env.client, task_queue, stripe):
        handle = await _start(ts_env, task_queue, data)
        result = await handle.result()
    assert result.status == "incomplete_expired"


async def test_adopts_an_existing_stripe_subscription(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    """The quote flow hands over a subscription Stripe created on acceptance: tag it, then renew it."""
    stripe, merchant = FakeStripe(), new_merchant()
    async with fake_worker(ts_env.client, task_queue, stripe):
        seed = SubscriptionInput(
            merchant_id=merchant, user_id="seed", price_id="price_pro", payment_method_id="pm_card_visa"
        )
        seeded = await _start(ts_env, task_queue, seed)
        await ts_env.sleep(timedelta(hours=1))
        stripe_id = (await _state(seeded)).stripe_subscription_id
        await seeded.terminate("only here to create the Stripe subscription")
        assert stripe_id is not None
        data = SubscriptionInput(
            merchant_id=merchant, stripe_customer_id="cus_q", adopt_subscription_id=stripe_id
        )
        handle = await _start(ts_env, task_queue, data)
        await ts_env.sleep(DAY * 33)
        state = await _state(handle)
        assert state.stripe_subscription_id == stripe_id and state.price_id == "price_pro"
        assert state.status == "active" and state.period == 2
        await handle.signal(CANCEL, CancelRequest(by="test"))
        await handle.result()
    renewed = [
        e
        for e in NOTIFIED[merchant]
        if e.type == "subscription.renewed" and e.data["stripe_subscription_id"] == stripe_id
    ]
    assert len(renewed) == 1 and renewed[0].data["amount_paid"] == 2500
