"""Payments and refunds through the HTTP API (uvicorn on a free port), the Temporal dev server, the
Stripe emulator over HTTP (its signed webhooks reach the API) and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
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
from activities.stripe_client import StripeClients
from bench.harness.ports import free_port
from billflow.config import Settings
from billflow.ledger import Payment, SavedCard, WebhookEvent
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant
from starter.api import create_app
from stripe_emulator.server import EmulatorServer
from stripe_emulator.server import create_app as create_emulator
from worker import build_worker

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    """An emulator of this module's own, so its webhook chaos settings touch no other test."""
    server = EmulatorServer(create_emulator(seed=11, webhook_retry_base_seconds=0.05, webhook_max_attempts=5))
    server.start()
    yield server
    server.stop()


@dataclass
class Stack:
    api: httpx.AsyncClient
    emulator: httpx.AsyncClient
    stripe_key: str
    merchant_id: str
    ledger: Ledger

    async def pay(self, key: str | None = None, **body: Any) -> httpx.Response:
        payload = {"amount": "50.00", "currency": "usd", "payment_method": "pm_card_visa", **body}
        return await self.api.post(
            "/v1/payments", json=payload, headers={"Idempotency-Key": key or uuid.uuid4().hex}
        )

    async def until_status(self, payment_id: str, *statuses: str) -> dict[str, Any]:
        """Read the payment until it reaches one of `statuses` (waiting, never asserting on time)."""
        for _ in range(600):
            data: dict[str, Any] = (await self.api.get(f"/v1/payments/{payment_id}")).json()["data"]
            if data["status"] in statuses:
                return data
            await asyncio.sleep(0.1)
        raise AssertionError(f"payment {payment_id} never reached {statuses}; last {data}")

    async def audit(self) -> list[dict[str, Any]]:
        resp = await self.emulator.get("/_emulator/audit", params={"api_key": self.stripe_key})
        entries: list[dict[str, Any]] = resp.json()["data"]
        return entries


@pytest.fixture
async def stack(
    emulator: EmulatorServer, pg_url: str, pg_ledger: Ledger, dev_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[Stack]:
    port = free_port()
    settings = Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        stripe_api_base=emulator.base_url,
        public_url=f"http://127.0.0.1:{port}",
        temporal_task_queue=task_queue,
        admin_token=SecretStr("admin"),
    )
    app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    merchant, api_key = create_merchant(pg_ledger, "payments-it")
    stripe_key = f"sk_test_{uuid.uuid4().hex}"
    deps = Deps(settings=settings, ledger=pg_ledger, stripe=StripeClients(settings, pg_ledger))
    async with (
        build_worker(dev_env.client, deps, task_queue=task_queue),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": api_key.key}) as api,
        httpx.AsyncClient(base_url=emulator.base_url) as emu,
    ):
        connected = await api.put(
            "/v1/merchant/providers", json={"provider": "stripe", "stripe": {"secret_key": stripe_key}}
        )
        assert connected.status_code == 200, connected.text
        assert connected.json()["data"]["webhook_registered"] is True
        yield Stack(api, emu, stripe_key, merchant.id, pg_ledger)
    server.should_exit = True
    await serving


async def test_visa_completes_and_is_listed(stack: Stack) -> None:
    resp = await stack.pay(metadata={"order": "A-1"})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert (data["status"], data["amount"], data["amount_captured"]) == ("completed", "50.00", "50.00")
    assert data["payment_intent_id"].startswith("pi_")
    got = (await stack.api.get(f"/v1/payments/{data['id']}")).json()["data"]
    assert got["status"] == "completed" and got["amount_refunded"] == "0.00"
    listed = (await stack.api.get("/v1/payments", params={"currency": "usd", "status": "completed"})).json()
    assert data["id"] in [p["id"] for p in listed["data"]["data"]]
    missing = await stack.api.get("/v1/payments", params={"currency": "usd", "min_amount": "50.01"})
    assert data["id"] not in [p["id"] for p in missing.json()["data"]["data"]]


async def test_declined_card_fails_with_its_decline_code(stack: Stack) -> None:
    resp = await stack.pay(payment_method="pm_card_visa_chargeDeclinedInsufficientFunds")
    data = resp.json()["data"]
    assert data["status"] == "failed"
    assert data["failure_code"] == "insufficient_funds"
    assert data["failure_reason"]


async def test_3ds_complete_then_fail(stack: Stack) -> None:
    ok = (
        await stack.pay(payment_method="pm_card_threeDSecure2Required", return_url="https://shop.test/back")
    ).json()
    assert ok["data"]["status"] == "pending" and ok["data"]["redirect_url"]
    pi = ok["data"]["payment_intent_id"]
    assert (await stack.emulator.post(f"/_emulator/3ds/{pi}/complete")).status_code < 400
    done = await stack.until_status(ok["data"]["id"], "completed", "failed")  # woken by the webhook
    assert done["status"] == "completed" and done["amount_captured"] == "50.00"

    bad = (
        await stack.pay(payment_method="pm_card_threeDSecure2Required", return_url="https://shop.test/back")
    ).json()
    pi = bad["data"]["payment_intent_id"]
    assert (await stack.emulator.post(f"/_emulator/3ds/{pi}/fail")).status_code < 400
    back = await stack.api.get(f"/v1/payments/{bad['data']['id']}/return")  # the customer is back
    assert back.status_code == 200
    failed = await stack.until_status(bad["data"]["id"], "completed", "failed")
    assert failed["status"] == "failed"
    assert failed["failure_code"] == "payment_intent_authentication_failure"


async def test_same_idempotency_key_is_one_payment_and_one_charge(stack: Stack) -> None:
    key = uuid.uuid4().hex
    first, second = await asyncio.gather(stack.pay(key=key), stack.pay(key=key))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    one, two = first.json()["data"], second.json()["data"]
    assert one["id"] == two["id"] and one["payment_intent_id"] == two["payment_intent_id"]
    charges = [
        a
        for a in await stack.audit()
        if a["kind"] == "charge" and a["payment_intent"] == one["payment_intent_id"]
    ]
    assert len(charges) == 1
    conflict = await stack.pay(key=key, amount="51.00")
    assert conflict.status_code == 409
    assert "different request body" in conflict.json()["error"]["message"]


async def test_duplicate_webhooks_change_nothing(stack: Stack) -> None:
    await stack.emulator.post("/_emulator/faults", json={"webhooks": {"duplicate_rate": 1.0}})
    try:
        resp = (
            await stack.pay(payment_method="pm_card_threeDSecure2Required", return_url="https://s.test/r")
        ).json()
        payment_id, pi = resp["data"]["id"], resp["data"]["payment_intent_id"]
        await stack.emulator.post(f"/_emulator/3ds/{pi}/complete")
        done = await stack.until_status(payment_id, "completed", "failed")
        await stack.emulator.post("/_emulator/webhooks/deliveries/drain")
    finally:
        await stack.emulator.delete("/_emulator/faults")
    assert done["status"] == "completed"
    with stack.ledger.session() as session:
        events = list(session.scalars(select(WebhookEvent).where(WebhookEvent.object_id == pi)))
        row = session.scalar(select(Payment).where(Payment.id == payment_id))
        assert row is not None
        assert (row.status, row.amount_captured_minor) == ("completed", 5000)
    assert events and len({e.stripe_event_id for e in events}) == len(events)  # each event stored once
    charges = [a for a in await stack.audit() if a["payment_intent"] == pi and a["kind"] == "charge"]
    assert len(charges) == 1


@pytest.mark.parametrize(("currency", "amount", "minor"), [("jpy", "500", 500), ("kes", "150.50", 15050)])
async def test_minor_units_per_currency(stack: Stack, currency: str, amount: str, minor: int) -> None:
    data = (await stack.pay(currency=currency, amount=amount)).json()["data"]
    assert data["status"] == "completed" and data["amount"] == amount
    charges = [a for a in await stack.audit() if a["payment_intent"] == data["payment_intent_id"]]
    assert [(c["amount"], c["currency"]) for c in charges] == [(minor, currency)]


async def test_bad_amounts_name_the_field(stack: Stack) -> None:
    jpy = await stack.pay(currency="jpy", amount="5.5")
    assert jpy.status_code == 422 and jpy.json()["error"]["field"] == "amount"
    unknown = await stack.pay(currency="xyz")
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "currency"


async def test_refunds_partial_rest_and_over_refund(stack: Stack) -> None:
    paid = (await stack.pay(amount="80.00")).json()["data"]

    async def refund(body: dict[str, str]) -> httpx.Response:
        return await stack.api.post("/v1/refunds", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})

    part = await refund({"payment_id": paid["id"], "amount": "30.00"})
    assert part.status_code == 200, part.text
    assert (part.json()["data"]["status"], part.json()["data"]["amount"]) == ("succeeded", "30.00")
    too_much = await refund({"payment_id": paid["id"], "amount": "60.00"})
    assert too_much.status_code == 409
    assert "50.00 USD left" in too_much.json()["error"]["message"]
    rest = await refund({"payment_id": paid["id"]})
    assert rest.json()["data"]["amount"] == "50.00"
    listed = (await stack.api.get("/v1/refunds", params={"payment_id": paid["id"]})).json()["data"]["data"]
    assert sorted(r["status"] for r in listed) == ["failed", "succeeded", "succeeded"]
    got = (await stack.api.get(f"/v1/payments/{paid['id']}")).json()["data"]
    assert got["amount_refunded"] == "80.00"
    refunds = [
        a
        for a in await stack.audit()
        if a["kind"] == "refund" and a["payment_intent"] == paid["payment_intent_id"]
    ]
    assert sorted(a["amount"] for a in refunds) == [3000, 5000]


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        ("pm_card_visa", "completed", None),
        ("pm_card_authenticationRequired", "failed", "authentication_required"),
    ],
)
async def test_saved_card_is_charged_off_session(
    stack: Stack, emulator: EmulatorServer, card: str, status: str, code: str | None
) -> None:
    sc = stripe.StripeClient(
        stack.stripe_key, base_addresses={"api": emulator.base_url}, max_network_retries=0
    )
    customer = await sc.v1.customers.create_async({"email": "saver@example.com"})
    pm = await sc.v1.payment_methods.attach_async(card, {"customer": customer.id})
    saved_id = f"card_{uuid.uuid4().hex[:12]}"
    with stack.ledger.session() as session:
        session.add(
            SavedCard(
                id=saved_id,
                merchant_id=stack.merchant_id,
                user_id="user-1",
                stripe_customer_id=customer.id,
                stripe_payment_method_id=pm.id,
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=2030,
            )
        )
    data = (await stack.pay(payment_method=None, saved_card_id=saved_id)).json()["data"]
    assert (data["status"], data["failure_code"], data["customer"]) == (status, code, customer.id)
    unknown = await stack.pay(payment_method=None, saved_card_id="card_nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "saved_card_id"


async def test_approval_then_partial_capture_and_cancel(stack: Stack) -> None:
    patched = await stack.api.patch("/v1/merchant", json={"payment_approval_threshold": 100_00})
    assert patched.status_code == 200, patched.text
    big = (await stack.pay(amount="250.00", capture="manual")).json()["data"]
    assert big["status"] == "requires_approval" and big["waiting"]["what"] == "a manager's approval"
    early = await stack.api.post(f"/v1/payments/{big['id']}/capture", json={"amount": "10.00"})
    assert early.status_code == 409
    approved = await stack.api.post(f"/v1/payments/{big['id']}/approve", json={"by": "ops@example.com"})
    assert approved.status_code == 200
    await stack.until_status(big["id"], "requires_capture")
    captured = await stack.api.post(f"/v1/payments/{big['id']}/capture", json={"amount": "100.00"})
    assert captured.status_code == 200, captured.text
    assert (captured.json()["data"]["status"], captured.json()["data"]["amount_captured"]) == (
        "completed",
        "100.00",
    )
    # the same capture again (a client whose first answer was lost) is answered, not refused
    retried = await stack.api.post(f"/v1/payments/{big['id']}/capture", json={"amount": "100.00"})
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["amount_captured"] == "100.00"
    other = await stack.api.post(f"/v1/payments/{big['id']}/capture", json={"amount": "50.00"})
    assert other.status_code == 409
    captures = [
        a
        for a in await stack.audit()
        if a["kind"] == "capture" and a["payment_intent"] == big["payment_intent_id"]
    ]
    assert [c["amount"] for c in captures] == [10000]

    held = (await stack.pay(amount="20.00", capture="manual")).json()["data"]
    assert held["status"] == "requires_capture"
    canceled = await stack.api.post(
        f"/v1/payments/{held['id']}/cancel", json={"by": "shop", "reason": "out of stock"}
    )
    assert canceled.status_code == 200
    assert (await stack.until_status(held["id"], "canceled"))["failure_reason"] == "out of stock"
