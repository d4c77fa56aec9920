"""StripeWriteWorkflow: one generic write, retried with one idempotency key; unknown ops refused early."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.catalog import StripeWriteActivityInput
from billflow.catalog import StripeWriteInput, StripeWriteResult, validate_params
from billflow.idempotency import stripe_key
from tests.replay.history_files import record_history
from workflows.stripe_write import StripeWriteWorkflow


async def run_write(
    env: WorkflowEnvironment, task_queue: str, data: StripeWriteInput, fake: Any
) -> tuple[str, StripeWriteResult]:
    wid = f"stripe_write/m1/{uuid.uuid4().hex}"
    async with Worker(env.client, task_queue=task_queue, workflows=[StripeWriteWorkflow], activities=[fake]):
        result = await env.client.execute_workflow(
            StripeWriteWorkflow.run, data, id=wid, task_queue=task_queue, static_summary=data.summary()
        )
    return wid, result


async def test_write_is_retried_with_the_same_key(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    seen: list[StripeWriteActivityInput] = []

    @activity.defn(name="stripe.write")
    async def fake(data: StripeWriteActivityInput) -> dict[str, Any]:
        seen.append(data)
        if len(seen) == 1:
            raise ApplicationError("Stripe answered 503", type="StripeUnavailable")
        return {"id": "prod_1", "object": "product", "name": data.params["name"]}

    params = validate_params("products.create", {"name": "Gold plan"})
    data = StripeWriteInput(merchant_id="m1", operation="products.create", params=params)
    assert data.summary() == "create product 'Gold plan'"
    wid, result = await run_write(ts_env, task_queue, data, fake)
    await record_history(ts_env.client.get_workflow_handle(wid), "stripe_write_retried")
    assert result.object_id == "prod_1"
    assert result.object["name"] == "Gold plan"
    assert [s.idempotency_key for s in seen] == [stripe_key(wid, "products.create")] * 2
    assert seen[0].workflow_id == wid


async def test_final_stripe_error_fails_the_write(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    calls: list[str] = []

    @activity.defn(name="stripe.write")
    async def fake(data: StripeWriteActivityInput) -> dict[str, Any]:
        calls.append(data.operation)
        raise ApplicationError("No such customer: 'cus_nope'", type="ResourceMissing", non_retryable=True)

    data = StripeWriteInput(merchant_id="m1", operation="customers.delete", target_id="cus_nope")
    with pytest.raises(WorkflowFailureError):
        await run_write(ts_env, task_queue, data, fake)
    assert calls == ["customers.delete"], "a final error is not retried"


def test_bad_operations_and_params_are_refused_before_any_workflow() -> None:
    with pytest.raises(ValidationError, match="unknown operation"):
        StripeWriteInput(merchant_id="m1", operation="products.explode")
    with pytest.raises(ValidationError, match="needs target id"):
        StripeWriteInput(merchant_id="m1", operation="customers.delete")
    with pytest.raises(ValidationError):
        validate_params("prices.create_one_time", {"product": "prod_1", "currency": "usd"})
    with pytest.raises(ValidationError):
        validate_params("refunds.create", {"charge": "ch_1", "payment_intent": "pi_1"})
    assert validate_params(
        "prices.create_recurring",
        {
            "product": "prod_1",
            "currency": "USD",
            "unit_amount_minor": 900,
            "recurring": {"interval": "month"},
        },
    )["recurring"] == {"interval": "month", "interval_count": 1}
