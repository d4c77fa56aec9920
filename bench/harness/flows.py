"""The flows a harness drives through billflow's HTTP API, each recording what must be true at the end."""

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
    """One flow's promised end: a payment's status, what Stripe must have captured and refunded."""

    kind: str
    payment_id: str
    intent_id: str | None
    status: str
    captured: int
    refunded: int = 0
    notification_types: list[str] = field(default_factory=list)


class FlowError(RuntimeError):
    pass


class Driver:
    """Runs flows against the API, retrying transport errors (the API may be restarting)."""

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
                raise FlowError(f"{method} {path} -> {response.status_code}: {body.get('error')}")
            data: dict[str, Any] = body["data"]
            return data
        raise FlowError(f"{method} {path}: API unavailable")

    async def pay(self, amount: str, payment_method: str, **extra: Any) -> dict[str, Any]:
        body = {"amount": amount, "currency": "usd", "payment_method": payment_method, **extra}
        return await self.call(
            "POST", "/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )

    async def settle(self, payment_id: str, want: set[str], timeout: float = 240) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            payment = await self.call("GET", f"/v1/payments/{payment_id}")
            if payment["status"] in want:
                return payment
            if asyncio.get_running_loop().time() > deadline:
                raise FlowError(f"{payment_id} stuck in {payment['status']} (wanted {sorted(want)})")
            await asyncio.sleep(0.5)

    async def frictionless(self) -> Expectation:
        p = await self.pay("12.00", "pm_card_visa")
        done = await self.settle(p["payment_id"], TERMINAL)
        return Expectation(
            "frictionless",
            p["payment_id"],
            done["payment_intent_id"],
            "completed",
            1200,
            notification_types=["payment.completed"],
        )

    async def declined(self) -> Expectation:
        p = await self.pay("7.00", "pm_card_visa_chargeDeclined")
        done = await self.settle(p["payment_id"], TERMINAL)
        return Expectation(
            "declined",
            p["payment_id"],
            done["payment_intent_id"],
            "failed",
            0,
            notification_types=["payment.failed"],
        )

    async def three_ds(self) -> Expectation:
        p = await self.pay("30.00", "pm_card_threeDSecure2Required", return_url="https://shop.example/back")
        pending = await self.settle(p["payment_id"], {"pending"} | TERMINAL)
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
        await self.call("GET", f"/v1/payments/{p['payment_id']}/return")
        await self.settle(p["payment_id"], TERMINAL)
        return Expectation(
            "3ds", p["payment_id"], intent, "completed", 3000, notification_types=["payment.completed"]
        )

    async def manual_capture(self) -> Expectation:
        p = await self.pay("40.00", "pm_card_visa", capture="manual")
        held = await self.settle(p["payment_id"], {"requires_capture"} | TERMINAL)
        await self.call(
            "POST",
            f"/v1/payments/{p['payment_id']}/capture",
            json={"amount": "25.00"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        await self.settle(p["payment_id"], TERMINAL)
        return Expectation(
            "manual_capture",
            p["payment_id"],
            held["payment_intent_id"],
            "completed",
            2500,
            notification_types=["payment.completed"],
        )

    async def refunded(self) -> Expectation:
        paid = await self.frictionless()
        await self.call(
            "POST",
            "/v1/refunds",
            json={"payment_id": paid.payment_id, "amount": "5.00"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        paid.kind, paid.refunded = "refund", 500
        deadline = asyncio.get_running_loop().time() + 240
        while asyncio.get_running_loop().time() < deadline:
            refunds = await self.call("GET", "/v1/refunds", params={"payment_id": paid.payment_id})
            items = refunds.get("items", refunds.get("data", []))
            if any(r.get("status") == "succeeded" for r in items):
                return paid
            await asyncio.sleep(0.5)
        raise FlowError(f"refund of {paid.payment_id} did not succeed")

    def pick(self) -> str:
        return self.rng.choices(
            ["frictionless", "declined", "three_ds", "manual_capture", "refunded"], weights=[4, 2, 2, 1, 1]
        )[0]
