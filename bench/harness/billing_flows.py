"""Saved cards, subscriptions renewed by Stripe test clocks, and quotes, driven through billflow's HTTP
API like the payment flows (and the emulator's Stripe API for the test clocks); the Driver runs them all."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness.flows import FlowError, InvoiceExpectation, PaymentDriver, PaymentExpectation

# Past a monthly period's end (31 days covers every month) and the hour Stripe waits to finalize.
MONTH = 31 * 86400 + 2 * 3600
QUOTE_ENDS = {"paid", "payment_failed", "void", "uncollectible", "canceled", "expired", "rejected", "failed"}
QUOTE_NOTIFICATIONS = [
    "quote.created",
    "quote.awaiting_approval",
    "quote.finalized",
    "quote.accepted",
    "invoice.finalized",
    "invoice.paid",
]
# Flow kinds and their weights in the mix; a subscription draws how many renewals it lives through.
MIX = {
    "frictionless": 4,
    "declined": 2,
    "three_ds": 2,
    "manual_capture": 1,
    "refunded": 1,
    "saved_card": 2,
    "subscription": 1,
    "quote": 1,
}


@dataclass
class Flow:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


class Driver(PaymentDriver):
    """Every flow of the chaos mix; `stripe_key` is the merchant's key at the emulator (test clocks)."""

    def __init__(self, api_url: str, emulator_url: str, api_key: str, stripe_key: str, seed: int) -> None:
        super().__init__(api_url, emulator_url, api_key, seed)
        self.stripe_key = stripe_key
        self._product: str | None = None
        self._product_lock = asyncio.Lock()

    def plan(self, count: int, only: list[str] | None = None) -> list[Flow]:
        """`count` flows drawn from the mix (or the `only` kinds of it) with the seeded generator;
        every kind at least once when there are enough flows, so a short run covers them all."""
        mix = {k: w for k, w in MIX.items() if not only or k in only}
        each = list(mix) if count >= len(mix) else []
        kinds = each + self.rng.choices(list(mix), weights=list(mix.values()), k=count - len(each))
        self.rng.shuffle(kinds)
        return [Flow(k, {"renewals": self.rng.randint(1, 2)} if k == "subscription" else {}) for k in kinds]

    # ---- Stripe's own API (the emulator), for what a test does there: test clocks ------------

    async def stripe(self, method: str, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Stripe call to the emulator, retried through its injected 500s, 429s and dropped
        connections with one idempotency key (a retried write after a lost answer is replayed)."""
        headers = {"Authorization": f"Bearer {self.stripe_key}"}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        for attempt in range(40):
            try:
                response = await self.emulator.request(method, path, data=data, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
                continue
            if response.status_code in (409, 429) or response.status_code >= 500:
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
                continue
            body: dict[str, Any] = response.json()
            if response.status_code >= 400:
                raise FlowError(f"Stripe {method} {path} -> {response.status_code}: {body.get('error')}")
            return body
        raise FlowError(f"Stripe {method} {path}: unavailable")

    async def test_clock(self) -> str:
        now = (await self.emulator.get("/_emulator/health")).json()["now"]
        clock = await self.stripe("POST", "/v1/test_helpers/test_clocks", {"frozen_time": now})
        return str(clock["id"])

    async def advance(self, clock: str, seconds: int) -> None:
        current = await self.stripe("GET", f"/v1/test_helpers/test_clocks/{clock}")
        target = int(current["frozen_time"]) + seconds
        await self.stripe("POST", f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": target})

    # ---- saved cards --------------------------------------------------------------------------

    async def save_card(self, user: str, clock: str | None = None) -> dict[str, Any]:
        """Save pm_card_visa for a new user through the cards API; returns the saved card."""
        body: dict[str, Any] = {
            "payment_method_id": "pm_card_visa",
            "user_id": user,
            "customer_email": f"{user}@example.com",
        }
        if clock is not None:
            body["test_clock"] = clock
        saved = await self.write("/v1/payments/cards", body)
        if saved["status"] != "succeeded" or not saved.get("card"):
            raise FlowError(f"saving a card for {user}: {saved}")
        card: dict[str, Any] = saved["card"]
        return card

    async def saved_card(self) -> PaymentExpectation:
        """Save a card, then charge it off-session by its saved card id."""
        card = await self.save_card(f"card-{uuid.uuid4().hex[:8]}")
        p = await self.pay("18.00", saved_card_id=card["id"])
        done = await self.settle(p["id"], {"completed", "failed", "canceled"})
        return PaymentExpectation(
            "saved_card",
            p["id"],
            "completed",
            ["payment.completed"],
            intent_id=done["payment_intent_id"],
            captured=1800,
        )

    # ---- subscriptions --------------------------------------------------------------------------

    async def subscription(self, renewals: int = 1) -> InvoiceExpectation:
        """A monthly subscription for a customer on its own test clock, renewed `renewals` times by
        advancing the clock past each period end."""
        user = f"sub-{uuid.uuid4().hex[:8]}"
        clock = await self.test_clock()
        card = await self.save_card(user, clock)
        started = await self.write(
            "/v1/subscriptions",
            {"user_id": user, "amount": "12.00", "currency": "usd", "saved_card_id": card["id"]},
        )
        path = f"/v1/subscriptions/{started['subscription_id']}"

        def paid(periods: int) -> Any:
            return lambda s: s["status"] == "active" and s["periods_paid"] >= periods

        sub = await self.poll(path, "active with its first invoice paid", paid(1))
        for period in range(2, renewals + 2):
            await self.advance(clock, MONTH)
            sub = await self.poll(path, f"period {period} paid", paid(period))
        return InvoiceExpectation(
            "subscription",
            sub["id"],
            "active",
            ["subscription.activated"] + ["subscription.renewed"] * renewals,
            notify_key="subscription_id",
            stripe_customer_id=(sub.get("state") or {}).get("stripe_customer_id") or "",
            stripe_subscription_id=sub["stripe_subscription_id"],
            invoices_paid=1 + renewals,
            amount=1200,
        )

    # ---- quotes -------------------------------------------------------------------------------

    async def product(self) -> str:
        """One product for every quote of the run, made through the catalogue API."""
        async with self._product_lock:
            if self._product is None:
                key = uuid.uuid4().hex
                for _ in range(30):
                    made = await self.write("/v1/catalog/products", {"name": "Chaos consulting"}, key)
                    if made["status"] == "succeeded":
                        self._product = str(made["object_id"])
                        break
                    await asyncio.sleep(1)  # still running (workers down): the same key finds it
                else:
                    raise FlowError("the product was never created")
            return self._product

    async def decide(self, quote_id: str, action: str, waits_in: str, body: dict[str, Any]) -> None:
        """Approve or accept; a retry after an answer that was lost finds the quote already past it."""
        try:
            await self.write(f"/v1/quotes/{quote_id}/{action}", body)
        except FlowError as exc:
            now = (await self.call("GET", f"/v1/quotes/{quote_id}"))["status"]
            if now == waits_in or "invalid_state" not in str(exc):
                raise

    async def quote(self) -> InvoiceExpectation:
        """Quote for a user with a saved card → approve → finalize → accept → invoice paid by card."""
        user = f"quote-{uuid.uuid4().hex[:8]}"
        await self.save_card(user)
        line = {"price_data": {"currency": "usd", "product": await self.product(), "unit_amount": "150.00"}}
        quote = await self.write("/v1/quotes", {"user_id": user, "line_items": [line]})
        path = f"/v1/quotes/{quote['id']}"
        await self.poll(path, "awaiting_approval", lambda q: q["status"] == "awaiting_approval")
        await self.decide(quote["id"], "approve", "awaiting_approval", {"by": "chaos-manager"})
        await self.poll(path, "open", lambda q: q["status"] == "open")
        await self.decide(quote["id"], "accept", "open", {"by": f"{user}@example.com"})
        done = await self.poll(path, "an end", lambda q: q["status"] in QUOTE_ENDS)
        return InvoiceExpectation(
            "quote",
            quote["id"],
            "paid",
            list(QUOTE_NOTIFICATIONS),
            notify_key="quote_id",
            stripe_customer_id=done["stripe_customer_id"] or "",
            stripe_invoice_id=done["stripe_invoice_id"],
            amount=15000,
        )
