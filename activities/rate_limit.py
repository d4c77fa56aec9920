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
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import and_, case, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billflow.ledger import StripeRateSlot
from billflow.ledger.db import Ledger, upsert

# A request claims a slot at most this far ahead. Further away, it waits unclaimed and tries
# again: a claimed slot whose activity then times out (start_to_close is 30 s) would be a slot no
# request uses, and under a large burst those lost slots pulled the achieved rate far under the limit.
MAX_AHEAD_SECONDS = 10.0


@dataclass(frozen=True)
class Slot:
    claimed: bool
    wait: float  # claimed: seconds until the slot starts; not claimed: until a claim can succeed


class StripeRateLimiter:
    """Reserve-then-sleep GCRA limiter keyed by merchant."""

    def __init__(self, ledger: Ledger, per_second: float, max_ahead: float = MAX_AHEAD_SECONDS) -> None:
        if per_second <= 0:
            raise ValueError("rate must be positive")
        self._ledger = ledger
        self._interval = 1.0 / per_second
        self._max_ahead = max_ahead

    def reserve(self, merchant_id: str, now: float | None = None) -> float:
        """Claim the merchant's next slot however far ahead; returns how many seconds to wait."""
        return self.claim(merchant_id, now, max_ahead=math.inf).wait

    def claim(self, merchant_id: str, now: float | None = None, max_ahead: float | None = None) -> Slot:
        """Claim the merchant's next slot if it starts within `max_ahead` seconds."""
        now = time.time() if now is None else now
        ahead = self._max_ahead if max_ahead is None else max_ahead
        with self._ledger.session() as session:
            upsert(
                session,
                StripeRateSlot,
                {"merchant_id": merchant_id, "next_at": now},
                ["merchant_id"],
                update=[],
            )
            start = case((StripeRateSlot.next_at > now, StripeRateSlot.next_at), else_=now)
            claimable = StripeRateSlot.merchant_id == merchant_id
            if math.isfinite(ahead):
                claimable = and_(claimable, StripeRateSlot.next_at <= now + ahead)
            next_at = session.execute(
                update(StripeRateSlot)
                .where(claimable)
                .values(next_at=start + self._interval)
                .returning(StripeRateSlot.next_at)
            ).scalar_one_or_none()
            if next_at is None:
                current = session.scalar(
                    select(StripeRateSlot.next_at).where(StripeRateSlot.merchant_id == merchant_id)
                )
                return Slot(claimed=False, wait=max(0.0, (current or now) - now - ahead))
        return Slot(claimed=True, wait=max(0.0, next_at - self._interval - now))

    async def acquire(self, merchant_id: str) -> None:
        while True:
            slot = await asyncio.to_thread(self.claim, merchant_id)
            if slot.claimed:
                if slot.wait > 0:
                    await asyncio.sleep(slot.wait)
                return
            pause = min(slot.wait, self._max_ahead) + random.uniform(0.0, 0.25)
            if not _time_left_for(pause + self._max_ahead + REQUEST_SECONDS):
                # Temporal does not stop an activity whose start_to_close passed (it has no
                # heartbeat); hand the wait to Temporal's retry instead of running late.
                raise ApplicationError(
                    f"Stripe rate limit for {merchant_id}: no slot within this attempt",
                    type="StripeRateLimited",
                    next_retry_delay=timedelta(seconds=max(1.0, slot.wait)),
                )
            # Spread the retries of many waiting requests instead of waking them together.
            await asyncio.sleep(pause)


REQUEST_SECONDS = 20.0  # the HTTP timeout of one Stripe request (every client of activities/stripe_client.py)


def _time_left_for(seconds: float) -> bool:
    """Whether the running activity attempt (if any) has `seconds` left before its start_to_close."""
    if not activity.in_activity():
        return True
    info = activity.info()
    if info.start_to_close_timeout is None:
        return True
    deadline = info.started_time + info.start_to_close_timeout
    return datetime.now(UTC) + timedelta(seconds=seconds) < deadline


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
