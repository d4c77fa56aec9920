"""Typed helpers to start and steer subscriptions and saved cards from Python (API, CLI, demo, backends)."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from billflow.money import describe_money
from billflow.signals import CANCEL, Decision
from billflow.subscriptions import (
    CHANGE_PLAN,
    PAUSE,
    RESUME,
    UPDATE_CARD,
    CancelRequest,
    ChangePlan,
    SubscriptionInput,
    SubscriptionResult,
    SubscriptionState,
    UpdateCard,
    subscription_id,
)
from workflows.common import start_attributes, static_details
from workflows.subscription import SubscriptionWorkflow

SIGNALS = {
    CANCEL: CancelRequest,
    PAUSE: Decision,
    RESUME: Decision,
    CHANGE_PLAN: ChangePlan,
    UPDATE_CARD: UpdateCard,
}


async def start_subscription(
    client: Client, data: SubscriptionInput, workflow_id: str, task_queue: str
) -> WorkflowHandle[SubscriptionWorkflow, SubscriptionResult]:
    """Start (or find, for a repeated request) the subscription's workflow."""
    amount = describe_money(data.amount_minor or 0, data.currency or "")
    what = data.price_id or f"{amount} every {data.interval_count} {data.interval}"
    return await client.start_workflow(
        SubscriptionWorkflow.run,
        data,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Subscription of user {data.user_id} to {what}",
        static_details=static_details(
            ("Subscription", subscription_id(workflow_id)),
            ("Merchant", data.merchant_id),
            ("User", data.user_id),
            ("Customer", data.stripe_customer_id),
            ("Plan", what),
            ("Card", data.payment_method_id),
            ("Trial", f"{data.trial_days} days" if data.trial_days else None),
            ("Fixed term", f"{data.cancel_after_periods} periods" if data.cancel_after_periods else None),
            ("Dunning retries", ", ".join(f"day {d:g}" for d in data.retry_schedule_days)),
        ),
        search_attributes=start_attributes(
            "subscription",
            "creating",
            data.merchant_id,
            customer_id=data.stripe_customer_id,
            amount_minor=data.amount_minor,
            currency=data.currency,
        ),
    )


async def subscription_state(client: Client, workflow_id: str) -> SubscriptionState:
    return await client.get_workflow_handle(workflow_id).query(SubscriptionWorkflow.state)


async def settled_state(client: Client, workflow_id: str, timeout: float = 15.0) -> SubscriptionState:
    """The state once the subscription exists at Stripe (or the timeout passed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await subscription_state(client, workflow_id)
        if state.status != "creating" or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.2)


async def steer(client: Client, workflow_id: str, signal: str, payload: BaseModel) -> None:
    """Send one of the subscription's control signals (cancel, pause, resume, change_plan, update_card)."""
    expected = SIGNALS[signal]
    if not isinstance(payload, expected):
        raise TypeError(f"signal {signal} takes {expected.__name__}")
    await client.get_workflow_handle(workflow_id).signal(signal, payload)


async def demo_subscription(client: Client, merchant_id: str, task_queue: str) -> tuple[str, str, bool]:
    """The demo step: save a card for a fresh user, subscribe them monthly, cancel at period end.

    Returns (workflow id, outcome, ok) for the demo table.
    """
    from workflows.save_card import SaveCardInput, SaveCardWorkflow, save_card_details

    user = f"demo-user-{uuid.uuid4().hex[:6]}"
    card_input = SaveCardInput(merchant_id=merchant_id, user_id=user, payment_method_id="pm_card_visa")
    saved = await client.execute_workflow(
        SaveCardWorkflow.run,
        card_input,
        id=f"card/{merchant_id}/{user}/pm_card_visa",
        task_queue=task_queue,
        static_summary=f"Save card pm_card_visa for user {user}",
        static_details=save_card_details(card_input),
        search_attributes=start_attributes("save_card", "started", merchant_id),
    )
    if saved.card is None:
        return f"card/{merchant_id}/{user}", f"card {saved.status}", False
    wid = f"subscription/{merchant_id}/demo-{uuid.uuid4().hex[:8]}"
    data = SubscriptionInput(
        merchant_id=merchant_id,
        user_id=user,
        stripe_customer_id=saved.stripe_customer_id,
        amount_minor=1200,
        currency="usd",
        payment_method_id=saved.card.payment_method_id,
    )
    await start_subscription(client, data, wid, task_queue)
    state = await settled_state(client, wid)
    await steer(client, wid, CANCEL, CancelRequest(by="demo", reason="demo over", at_period_end=True))
    outcome = f"{state.status}, card •••• {saved.card.last4}, renews {state.next_renewal_at:%Y-%m-%d}"
    return wid, outcome + " (then canceled at period end)", state.status == "active"
