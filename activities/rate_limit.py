"""Keeps each merchant's Stripe traffic under a configured rate, across every worker process.

Stripe allows an account about 100 requests/s live and 25 in test mode, and answers a burst over
that with 429s. Instead of provoking 429s and backing off, every Stripe request first reserves a
start time in a row shared through the ledger database (the generic cell rate algorithm): the row
holds when the next request may start, each caller moves it on by 1/rate and sleeps until its own
slot. PostgreSQL's row lock serialises reservations between processes and hosts (clocks must be
NTP-synchronised). A 429 that still happens is retried by Temporal like any other.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import stripe
from sqlalchemy import case, update

from billflow.ledger import StripeRateSlot
from billflow.ledger.db import Ledger, upsert


class StripeRateLimiter:
    """Reserve-then-sleep GCRA limiter keyed by merchant."""

    def __init__(self, ledger: Ledger, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("rate must be positive")
        self._ledger = ledger
        self._interval = 1.0 / per_second

    def reserve(self, merchant_id: str, now: float | None = None) -> float:
        """Claim the merchant's next slot; returns how many seconds to wait before the request."""
        now = time.time() if now is None else now
        with self._ledger.session() as session:
            upsert(
                session,
                StripeRateSlot,
                {"merchant_id": merchant_id, "next_at": now},
                ["merchant_id"],
                update=[],
            )
            start = case((StripeRateSlot.next_at > now, StripeRateSlot.next_at), else_=now)
            next_at = session.execute(
                update(StripeRateSlot)
                .where(StripeRateSlot.merchant_id == merchant_id)
                .values(next_at=start + self._interval)
                .returning(StripeRateSlot.next_at)
            ).scalar_one()
        return max(0.0, next_at - self._interval - now)

    async def acquire(self, merchant_id: str) -> None:
        wait = await asyncio.to_thread(self.reserve, merchant_id)
        if wait > 0:
            await asyncio.sleep(wait)


class RateLimitedHTTPXClient(stripe.HTTPXClient):
    """The SDK's async HTTP client, waiting for a rate-limiter slot before each request."""

    def __init__(self, limiter: StripeRateLimiter, merchant_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limiter = limiter
        self._merchant_id = merchant_id

    async def request_async(
        self, method: str, url: str, headers: Any, post_data: Any = None
    ) -> tuple[bytes, int, Any]:
        await self._limiter.acquire(self._merchant_id)
        return await super().request_async(method, url, headers, post_data)
