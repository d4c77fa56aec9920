"""The payment flows a harness drives through billflow's HTTP API, each recording what must be true at
the end; `billing_flows.py` adds saved cards, subscriptions and quotes on top."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL = {"completed", "failed", "canceled"}


@dataclass
class Expectation:
    """One flow's promised end: the status the API must show for billflow's object (`object_id`) and
    the merchant notifications about it, found by `notify_key` in the notification's data."""

    kind: str
    object_id: str
    status: str
    notification_types: list[str] = field(default_factory=list)
    notify_key: str = "payment_id"


@dataclass
class PaymentExpectation(Expectation):
    """A payment: what Stripe must have captured and refunded on its PaymentIntent."""

    intent_id: str | None = None
    captured: int = 0
    refunded: int = 0


@dataclass
class InvoiceExpectation(Expectation):
    """A subscription or a quote: how many of its Stripe invoices must be paid, each for `amount`.

    `stripe_subscription_id` selects a subscription's invoices; a quote names its one invoice.
    """

    stripe_customer_id: str = ""
    stripe_subscription_id: str | None = None
    stripe_invoice_id: str | None = None
    invoices_paid: int = 1
    amount: int = 0


class FlowError(RuntimeError):
    pass


class NotFound(FlowError):
    """The API answered 404: the object is not (yet) known."""


class PaymentDriver:
    """Runs payment flows against the API, retrying transport errors (the API may be restarting)."""

    def __init__(self, api_url: str, emulator_url: str, api_key: str, seed: int) -> None:
        self.http = httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": api_key}, timeout=60)
        self.emulator = httpx.AsyncClient(base_url=emulator_url, timeout=30)
        self.rng = random.Random(seed)

    async def close(self) -> None:
        await self.http.aclose()
        await self.emulator.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call; connection failures and 5xx are retried with the same Idempotency-Key."""
        for attempt in range(60):
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(min(0.5 * (attempt + 1), 3))
                continue
            if response.status_code >= 500:
                await asyncio.sleep(min(0.5 * (attempt + 1), 3))
                continue
            body: dict[str, Any] = response.json()
            if not body.get("success"):
                error = FlowError if response.status_code != 404 else NotFound
                raise error(f"{method} {path} -> {response.status_code}: {body.get('error')}")
            data: dict[str, Any] = body["data"]
            return data
        raise FlowError(f"{method} {path}: API unavailable")

    async def write(self, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """A POST with an Idempotency-Key that stays the same across retries."""
        return await self.call("POST", path, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})

    async def poll(self, path: str, what: str, done: Any, timeout: float = 240) -> dict[str, Any]:
        """GET `path` until `done(data)`; a 404 counts as not yet (the flow has not recorded it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: dict[str, Any] | str = "never found"
        while True:
            try:
                last = await self.call("GET", path)
                if done(last):
                    return last
            except NotFound:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise FlowError(f"{path} never reached {what}: last {last}")
            await asyncio.sleep(0.5)

    async def pay(self, amount: str, **source: Any) -> dict[str, Any]:
        return await self.write("/v1/payments", {"amount": amount, "currency": "usd", **source})

    async def settle(self, payment_id: str, want: set[str], timeout: float = 240) -> dict[str, Any]:
        return await self.poll(
            f"/v1/payments/{payment_id}", f"one of {sorted(want)}", lambda p: p["status"] in want, timeout
        )

    async def frictionless(self) -> PaymentExpectation:
        p = await self.pay("12.00", payment_method="pm_card_visa")
        done = await self.settle(p["id"], TERMINAL)
        return PaymentExpectation(
            "frictionless",
            p["id"],
            "completed",
            ["payment.completed"],
            intent_id=done["payment_intent_id"],
            captured=1200,
        )

    async def declined(self) -> PaymentExpectation:
        p = await self.pay("7.00", payment_method="pm_card_visa_chargeDeclined")
        done = await self.settle(p["id"], TERMINAL)
        return PaymentExpectation(
            "declined", p["id"], "failed", ["payment.failed"], intent_id=done["payment_intent_id"]
        )

    async def three_ds(self) -> PaymentExpectation:
        p = await self.pay(
            "30.00", payment_method="pm_card_threeDSecure2Required", return_url="https://shop.example/back"
        )
        pending = await self.settle(p["id"], {"pending"} | TERMINAL)
        intent = pending["payment_intent_id"]
        for _ in range(20):
            try:
                r = await self.emulator.post(f"/_emulator/3ds/{intent}/complete")
                if r.status_code < 500:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
        # the merchant's return page tells billflow the customer is back, which wakes the workflow at once
        await self.call("GET", f"/v1/payments/{p['id']}/return")
        await self.settle(p["id"], TERMINAL)
        return PaymentExpectation(
            "3ds", p["id"], "completed", ["payment.completed"], intent_id=intent, captured=3000
        )

    async def manual_capture(self) -> PaymentExpectation:
        p = await self.pay("40.00", payment_method="pm_card_visa", capture="manual")
        held = await self.settle(p["id"], {"requires_capture"} | TERMINAL)
        await self.write(f"/v1/payments/{p['id']}/capture", {"amount": "25.00"})
        await self.settle(p["id"], TERMINAL)
        return PaymentExpectation(
            "manual_capture",
            p["id"],
            "completed",
            ["payment.completed"],
            intent_id=held["payment_intent_id"],
            captured=2500,
        )

    async def refunded(self) -> PaymentExpectation:
        paid = await self.frictionless()
        await self.write("/v1/refunds", {"payment_id": paid.object_id, "amount": "5.00"})
        paid.kind, paid.refunded = "refund", 500

        def succeeded(refunds: dict[str, Any]) -> bool:
            items = refunds.get("items", refunds.get("data", []))
            return any(r.get("status") == "succeeded" for r in items)

        await self.poll("/v1/refunds?payment_id=" + paid.object_id, "a succeeded refund", succeeded)
        return paid
