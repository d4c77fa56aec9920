"""Saved cards and subscriptions end to end: API over HTTP, Stripe emulator over HTTP with test clocks
and webhooks back to the API, the Temporal dev server, a real worker and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from billflow.config import Settings
from billflow.ledger import Invoice, Notification, SavedCard
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant
from starter.api import create_app
from starter.subscriptions import demo_subscription
from stripe_emulator import run_in_thread
from worker import build_worker

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]
MONTH = 31 * 86400 + 2 * 3600  # past the period end, and past the hour Stripe waits to finalize


@dataclass
class Stack:
    api: httpx.AsyncClient
    stripe: stripe.StripeClient
    ledger: Ledger
    merchant_id: str


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def emulator() -> Iterator[str]:
    with run_in_thread() as base_url:
        yield base_url


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, pg_url: str, pg_ledger: Ledger, task_queue: str, emulator: str
) -> AsyncIterator[Stack]:
    sock = _free_socket()
    api_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_task_queue=task_queue,
        stripe_api_base=emulator,
        public_url=api_url,
        admin_token=SecretStr("t"),
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        await asyncio.sleep(0.02)
    merchant, key = create_merchant(pg_ledger, f"subs-{uuid.uuid4().hex[:6]}")
    secret = f"sk_test_{uuid.uuid4().hex}"
    deps = Deps.build(settings)
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": key.key}, timeout=30) as api:
        saved = await api.put(
            "/v1/merchant/providers", json={"provider": "stripe", "stripe": {"secret_key": secret}}
        )
        assert saved.status_code == 200, saved.text
        async with build_worker(dev_env.client, deps, task_queue=task_queue):
            yield Stack(
                api=api,
                stripe=stripe.StripeClient(secret, base_addresses={"api": emulator}, max_network_retries=0),
                ledger=pg_ledger,
                merchant_id=merchant.id,
            )
    server.should_exit = True
    thread.join(timeout=10)
    deps.ledger.dispose()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 90.0) -> Any:
    """Poll until `check` returns something truthy (the flows run asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


def _rows(ledger: Ledger, model: Any, *where: Any) -> list[Any]:
    with ledger.session() as session:
        return list(session.scalars(select(model).where(*where)).all())


async def _save_card(stack: Stack, user: str, pm: str, clock: str) -> dict[str, Any]:
    response = await stack.api.post(
        "/v1/payments/cards",
        json={
            "payment_method_id": pm,
            "user_id": user,
            "customer_email": f"{user}@example.com",
            "test_clock": clock,
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _subscribe(stack: Stack, user: str, card_id: str, **extra: Any) -> dict[str, Any]:
    response = await stack.api.post(
        "/v1/subscriptions",
        json={"user_id": user, "amount": "12.00", "currency": "usd", "saved_card_id": card_id, **extra},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _advance(stack: Stack, clock: str, seconds: int) -> None:
    current = await stack.stripe.v1.test_helpers.test_clocks.retrieve_async(clock)
    await stack.stripe.v1.test_helpers.test_clocks.advance_async(
        clock, {"frozen_time": current.frozen_time + seconds}
    )


async def test_card_saved_once_then_three_renewals_paid_and_notified(stack: Stack) -> None:
    clock = await stack.stripe.v1.test_helpers.test_clocks.create_async({"frozen_time": int(time.time())})
    user = f"user-{uuid.uuid4().hex[:6]}"
    first = await _save_card(stack, user, "pm_card_visa", clock.id)
    again = await _save_card(stack, user, "pm_card_visa", clock.id)
    assert first["status"] == "succeeded" and first["card"]["is_default"] and first["card"]["last4"] == "4242"
    assert (
        again["status"] == "succeeded"
        and again["deduplicated"]
        and again["card"]["id"] == first["card"]["id"]
    )
    listed_resp = await stack.api.get("/v1/payments/cards", params={"user_id": user})
    assert listed_resp.status_code == 200, listed_resp.text
    listed = listed_resp.json()["data"]
    assert [c["id"] for c in listed] == [first["card"]["id"]]
    assert len(_rows(stack.ledger, SavedCard, SavedCard.user_id == user, SavedCard.active.is_(True))) == 1

    state = await _subscribe(stack, user, first["card"]["id"])
    assert state["status"] == "active", state
    sub_id = state["subscription_id"]
    stripe_sub = state["stripe_subscription_id"]
    for period in range(2, 5):
        await _advance(stack, clock.id, MONTH)

        async def renewed(p: int = period) -> bool:
            got = (await stack.api.get(f"/v1/subscriptions/{sub_id}")).json().get("data")
            return bool(got and got["state"] and got["state"]["period"] >= p)

        assert await eventually(renewed), f"period {period} never settled"

    async def cycle_invoices() -> list[Invoice]:
        paid = _rows(
            stack.ledger,
            Invoice,
            Invoice.stripe_subscription_id == stripe_sub,
            Invoice.billing_reason == "subscription_cycle",
            Invoice.status == "paid",
        )
        return paid if len(paid) >= 3 else []

    invoices = await eventually(cycle_invoices)
    seen = [
        (i.stripe_invoice_id, i.billing_reason, i.status, i.amount_paid_minor, i.stripe_subscription_id)
        for i in _rows(stack.ledger, Invoice, Invoice.merchant_id == stack.merchant_id)
    ]
    assert len(invoices) == 3 and all(i.amount_paid_minor == 1200 for i in invoices), seen

    async def renewals_notified() -> list[str]:
        notes = _rows(stack.ledger, Notification, Notification.merchant_id == stack.merchant_id)
        periods = sorted(n.id.rsplit(":", 1)[-1] for n in notes if n.event_type == "subscription.renewed")
        return periods if len(periods) >= 3 else []

    assert await eventually(renewals_notified) == ["2", "3", "4"]
    # The only card of a live subscription cannot be removed.
    refused = await stack.api.delete(f"/v1/payments/cards/{first['card']['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "card_in_use"
    await stack.api.post(f"/v1/subscriptions/{sub_id}/cancel", json={})


async def test_failing_card_leads_to_past_due(stack: Stack) -> None:
    clock = await stack.stripe.v1.test_helpers.test_clocks.create_async({"frozen_time": int(time.time())})
    user = f"user-{uuid.uuid4().hex[:6]}"
    card = await _save_card(stack, user, "pm_card_chargeCustomerFail", clock.id)
    assert card["status"] == "succeeded", card
    state = await _subscribe(stack, user, card["card"]["id"], trial_days=3)
    assert state["status"] == "trialing", state
    await _advance(stack, clock.id, 4 * 86400)

    async def past_due() -> bool:
        got = (await stack.api.get(f"/v1/subscriptions/{state['subscription_id']}")).json().get("data")
        return bool(got and got["status"] == "past_due")

    assert await eventually(past_due)

    async def notified() -> bool:
        notes = _rows(stack.ledger, Notification, Notification.merchant_id == stack.merchant_id)
        return any(n.event_type == "subscription.past_due" for n in notes)

    assert await eventually(notified)
    await stack.api.post(f"/v1/subscriptions/{state['subscription_id']}/cancel", json={})


async def test_demo_step_saves_a_card_and_subscribes(
    stack: Stack, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    wid, outcome, ok = await demo_subscription(dev_env.client, stack.merchant_id, task_queue)
    assert ok, outcome
    assert "active" in outcome and "4242" in outcome
    assert wid.startswith(f"subscription/{stack.merchant_id}/")
