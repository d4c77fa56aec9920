"""Typed helpers to start and steer subscriptions and saved cards from Python (API, CLI, demo, backends)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

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
)
from workflows.common import start_attributes
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
    what = data.price_id or f"{data.amount_minor} {data.currency} every {data.interval_count} {data.interval}"
    return await client.start_workflow(
        SubscriptionWorkflow.run,
        data,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Subscription of user {data.user_id} to {what}",
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
    return await client.get_workflow_handle_for(SubscriptionWorkflow.run, workflow_id).query(
        SubscriptionWorkflow.state
    )


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
