"""The whole quote path over HTTP: emulator, Temporal dev server, worker and PostgreSQL ledger."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from billflow.config import Settings
from billflow.ledger import Invoice, Quote
from billflow.ledger.db import Ledger
from billflow.merchants import ensure_demo_merchant
from starter.api import create_app
from starter.quotes import demo_quote
from tests.integration.test_quotes_stack import Stack, emulator_url, eventually, stack
from worker import build_worker

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]
__all__ = ["emulator_url", "stack"]

MANAGER = {"by": "manager@example.com", "reason": "margin ok"}


async def customer_with_card(s: Stack) -> str:
    customer = await s.ok("POST", "/v1/catalog/customers", {"email": "buyer@example.com", "name": "Buyer"})
    cus = customer["object_id"]
    pm = (await s.ok("POST", "/v1/catalog/payment_methods/pm_card_visa/attach", {"customer": cus}))[
        "object_id"
    ]
    await s.ok("POST", f"/v1/catalog/customers/{cus}", {"default_payment_method": pm})
    return str(cus)


async def status_of(s: Stack, quote_id: str) -> str:
    return str((await s.ok("GET", f"/v1/quotes/{quote_id}"))["status"])


async def reach(s: Stack, quote_id: str, status: str) -> dict[str, Any]:
    async def check() -> bool:
        return await status_of(s, quote_id) == status

    await eventually(check, f"quote {quote_id} {status}")
    data: dict[str, Any] = await s.ok("GET", f"/v1/quotes/{quote_id}")
    return data


async def test_quote_approved_accepted_invoiced_and_paid(stack: Stack) -> None:
    s = stack
    cus = await customer_with_card(s)
    product = (await s.ok("POST", "/v1/catalog/products", {"name": "Consulting day"}))["object_id"]
    body = {
        "customer_id": cus,
        "line_items": [
            {"price_data": {"currency": "usd", "product": product, "unit_amount": "600.00"}, "quantity": 2}
        ],
        "description": "Two consulting days",
    }
    created = await s.call("POST", "/v1/quotes", body, key="order-42")
    assert created.status_code == 201, created.text
    quote_id = created.json()["data"]["id"]
    again = await s.call("POST", "/v1/quotes", body, key="order-42")
    assert again.json()["data"]["id"] == quote_id, "the same Idempotency-Key finds the same quote"

    waiting = await reach(s, quote_id, "awaiting_approval")
    assert waiting["amount_total"] == "1200.00"
    assert waiting["stripe_quote_id"].startswith("qt_")
    assert (await s.fails(409, "POST", f"/v1/quotes/{quote_id}/accept", {"by": "early@example.com"}))[
        "code"
    ] == "invalid_state"
    await s.ok("POST", f"/v1/quotes/{quote_id}/approve", MANAGER)
    await reach(s, quote_id, "open")
    assert s.stripe.v1.quotes.retrieve(waiting["stripe_quote_id"]).status == "open"

    await s.ok("POST", f"/v1/quotes/{quote_id}/accept", {"by": "buyer@example.com"})
    paid = await reach(s, quote_id, "paid")
    invoice_id = paid["stripe_invoice_id"]
    assert invoice_id.startswith("in_")
    assert s.stripe.v1.invoices.retrieve(invoice_id).status == "paid"

    invoice = await s.ok("GET", f"/v1/invoices/{invoice_id}")
    assert (invoice["status"], invoice["amount_paid"], invoice["currency"]) == ("paid", "1200.00", "usd")
    listed = await s.ok("GET", "/v1/invoices", status="paid")
    assert invoice_id in [i["id"] for i in listed["data"]]
    quotes = await s.ok("GET", "/v1/quotes", status="paid")
    assert [q["id"] for q in quotes["data"]] == [quote_id]
    with s.ledger.session() as session:
        row = session.scalar(select(Quote).where(Quote.id == quote_id))
        inv = session.get(Invoice, invoice_id)
    assert row is not None and row.status == "paid" and row.amount_total_minor == 120_000
    assert inv is not None and inv.status == "paid" and inv.stripe_quote_id == waiting["stripe_quote_id"]


async def test_quote_rejected_and_cancelled_over_http(stack: Stack) -> None:
    s = stack
    cus = await customer_with_card(s)
    product = (await s.ok("POST", "/v1/catalog/products", {"name": "Audit"}))["object_id"]
    line = {"price_data": {"currency": "eur", "product": product, "unit_amount": "99.90"}}
    rejected = await s.ok("POST", "/v1/quotes", {"customer_id": cus, "line_items": [line]})
    await reach(s, rejected["id"], "awaiting_approval")
    await s.ok("POST", f"/v1/quotes/{rejected['id']}/reject", {"by": "boss@example.com", "reason": "no"})
    state = await reach(s, rejected["id"], "rejected")
    assert s.stripe.v1.quotes.retrieve(state["stripe_quote_id"]).status == "canceled"

    canceled = await s.ok("POST", "/v1/quotes", {"customer_id": cus, "line_items": [line]})
    await reach(s, canceled["id"], "awaiting_approval")
    await s.ok("POST", f"/v1/quotes/{canceled['id']}/cancel", {"by": "sales@example.com"})
    await reach(s, canceled["id"], "canceled")


async def test_quote_bad_input_is_a_clear_4xx(stack: Stack) -> None:
    s = stack
    line = {"price_data": {"currency": "usd", "product": "prod_x", "unit_amount": "10.00"}}
    missing = await s.fails(422, "POST", "/v1/quotes", {"customer_id": "cus_x"})
    assert missing["field"] == "line_items"
    wrong_type = await s.fails(422, "POST", "/v1/quotes", {"customer_id": "cus_x", "line_items": "many"})
    assert wrong_type["field"] == "line_items"
    both = await s.fails(422, "POST", "/v1/quotes", {"line_items": [line]})
    assert "user_id or customer_id" in both["message"]
    bad_amount = {"price_data": {"currency": "jpy", "product": "prod_x", "unit_amount": "10.50"}}
    assert (await s.fails(422, "POST", "/v1/quotes", {"customer_id": "c", "line_items": [bad_amount]}))[
        "code"
    ] == "invalid_amount"
    unknown = "quo_" + "0" * 24
    assert (await s.fails(404, "GET", f"/v1/quotes/{unknown}"))["code"] == "not_found"
    assert (await s.fails(404, "POST", f"/v1/quotes/{unknown}/approve", MANAGER))["code"] == "not_found"
    await s.fails(422, "POST", f"/v1/quotes/{unknown}/approve", {"reason": "who?"})
    await s.fails(404, "GET", "/v1/invoices/in_unknown")
    no_key = await s.http.post("/v1/quotes", json={"customer_id": "c", "line_items": [line]})
    assert no_key.status_code == 400 and no_key.json()["error"]["field"] == "Idempotency-Key"


async def test_demo_quote_step_runs_through_the_api(
    dev_env: WorkflowEnvironment, pg_url: str, pg_ledger: Ledger, task_queue: str, emulator_url: str
) -> None:
    """The `make demo` quote step, against a real uvicorn on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        temporal_task_queue=task_queue,
        stripe_api_base=emulator_url,
        stripe_secret_key=SecretStr(f"sk_test_{uuid.uuid4().hex}"),
        api_port=port,
    )
    ensure_demo_merchant(pg_ledger, settings)
    app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    deps = Deps.build(settings)
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with build_worker(dev_env.client, deps, task_queue=task_queue):
            quote_id, outcome, ok = await demo_quote(settings)
    finally:
        server.should_exit = True
        await serving
        deps.ledger.dispose()
    assert ok, outcome
    assert quote_id.startswith("quo_") and "paid" in outcome


async def test_accept_committed_at_stripe_but_response_lost_is_not_repeated(
    stack: Stack, emulator_url: str
) -> None:
    """The emulator accepts the quote, then drops the connection: the retry finds it accepted."""
    s = stack
    cus = await customer_with_card(s)
    product = (await s.ok("POST", "/v1/catalog/products", {"name": "Fragile"}))["object_id"]
    line = {"price_data": {"currency": "usd", "product": product, "unit_amount": "5.00"}}
    quote_id = (await s.ok("POST", "/v1/quotes", {"customer_id": cus, "line_items": [line]}))["id"]
    stripe_quote = (await reach(s, quote_id, "awaiting_approval"))["stripe_quote_id"]
    await s.ok("POST", f"/v1/quotes/{quote_id}/approve", MANAGER)
    await reach(s, quote_id, "open")
    async with httpx.AsyncClient(base_url=emulator_url) as emulator:
        fault = {
            "endpoints": [{"method": "POST", "path": "/v1/quotes/*/accept", "drop_after_commit_rate": 1.0}]
        }
        assert (await emulator.post("/_emulator/faults", json=fault)).status_code < 300
        try:
            await s.ok("POST", f"/v1/quotes/{quote_id}/accept", {"by": "buyer@example.com"})

            async def committed() -> bool:
                return s.stripe.v1.quotes.retrieve(stripe_quote).status == "accepted"

            await eventually(committed, "the accept committed at Stripe")
        finally:
            await emulator.delete("/_emulator/faults")
    paid = await reach(s, quote_id, "paid")
    history = await s.temporal.get_workflow_handle(paid["workflow_id"]).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "quotes.accept"
    }
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    assert attempts and attempts[0] >= 2, "the lost response made the accept step retry"
    invoices = s.stripe.v1.invoices.list({"customer": cus})
    assert [i.status for i in invoices.data] == ["paid"], "one acceptance, one invoice, paid once"


async def test_recurring_quote_hands_the_subscription_to_a_child(stack: Stack) -> None:
    s = stack
    cus = await customer_with_card(s)
    product = (await s.ok("POST", "/v1/catalog/products", {"name": "Gold plan"}))["object_id"]
    monthly = {
        "currency": "usd",
        "product": product,
        "unit_amount": "49.00",
        "recurring": {"interval": "month"},
    }
    quote_id = (
        await s.ok("POST", "/v1/quotes", {"customer_id": cus, "line_items": [{"price_data": monthly}]})
    )["id"]
    await reach(s, quote_id, "awaiting_approval")
    await s.ok("POST", f"/v1/quotes/{quote_id}/approve", MANAGER)
    await reach(s, quote_id, "open")
    await s.ok("POST", f"/v1/quotes/{quote_id}/accept", {"by": "buyer@example.com"})
    done = await reach(s, quote_id, "subscribed")
    sub_id = done["stripe_subscription_id"]
    assert sub_id.startswith("sub_")
    child = s.temporal.get_workflow_handle(f"subscription/{s.merchant_id}/{quote_id}")
    described = await child.describe()
    assert described.workflow_type == "SubscriptionWorkflow"
    handed = await child.fetch_history()
    started = handed.events[0].workflow_execution_started_event_attributes
    payload = json.loads(started.input.payloads[0].data)
    price = s.stripe.v1.subscriptions.retrieve(sub_id).items.data[0].price.id
    handed_over = {
        k: payload[k]
        for k in ("merchant_id", "user_id", "stripe_customer_id", "price_id", "adopt_subscription_id")
    }
    assert handed_over == {
        "merchant_id": s.merchant_id,
        "user_id": None,
        "stripe_customer_id": cus,
        "price_id": price,
        "adopt_subscription_id": sub_id,
    }
    await child.terminate("test over: the subscriptions flow is not part of this branch")
