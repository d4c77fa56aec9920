"""The shared Stripe rate limiter spaces requests by 1/rate, across threads and processes."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.rate_limit import StripeRateLimiter
from billflow.ledger.db import Ledger


def test_slots_are_spaced_by_the_rate(ledger: Ledger) -> None:
    limiter = StripeRateLimiter(ledger, per_second=20)
    merchant = f"mer_{uuid.uuid4().hex[:8]}"
    waits = [limiter.reserve(merchant, now=1000.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    # once the reserved slots are in the past, the next request goes at once
    assert limiter.reserve(merchant, now=1010.0) == 0.0
    # merchants do not share slots
    assert limiter.reserve(f"mer_{uuid.uuid4().hex[:8]}", now=1000.0) == 0.0


def test_concurrent_reservations_never_share_a_slot(ledger: Ledger) -> None:
    limiter = StripeRateLimiter(ledger, per_second=10)
    merchant = f"mer_{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=6) as pool:
        waits = sorted(pool.map(lambda _: limiter.reserve(merchant, now=5000.0), range(30)))
    assert waits == pytest.approx([i * 0.1 for i in range(30)])


def test_rate_must_be_positive(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="positive"):
        StripeRateLimiter(ledger, per_second=0)


def test_slots_further_ahead_than_the_cap_are_not_claimed(ledger: Ledger) -> None:
    """A request whose slot is far away waits unclaimed, so a request that gives up loses no slot."""
    limiter = StripeRateLimiter(ledger, per_second=20, max_ahead=0.1)
    merchant = f"mer_{uuid.uuid4().hex[:8]}"
    slots = [limiter.claim(merchant, now=1000.0) for _ in range(4)]
    assert [s.claimed for s in slots] == [True, True, True, False]
    assert [s.wait for s in slots] == pytest.approx([0.0, 0.05, 0.10, 0.05])
    # the refused claim left the row alone: 50 ms later the next slot is claimable, 100 ms ahead
    later = limiter.claim(merchant, now=1000.05)
    assert later.claimed and later.wait == pytest.approx(0.10)


async def test_acquire_waits_unclaimed_then_takes_the_next_slot(ledger: Ledger) -> None:
    limiter = StripeRateLimiter(ledger, per_second=10, max_ahead=0.2)
    merchant = f"mer_{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        assert limiter.claim(merchant).claimed
    assert not limiter.claim(merchant).claimed  # the next free slot is 0.3 s away
    await asyncio.wait_for(limiter.acquire(merchant), timeout=5)


async def test_a_wait_longer_than_the_attempt_goes_back_to_temporal(ledger: Ledger) -> None:
    """An attempt near its start_to_close stops waiting (no slot claimed) and asks to be retried later."""
    limiter = StripeRateLimiter(ledger, per_second=1, max_ahead=1.0)
    merchant = f"mer_{uuid.uuid4().hex[:8]}"
    for _ in range(5):
        limiter.reserve(merchant)  # the next free slot is seconds away
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        started_time=datetime.now(UTC) - timedelta(seconds=25),
        start_to_close_timeout=timedelta(seconds=30),
    )
    with pytest.raises(ApplicationError) as refused:
        await env.run(limiter.acquire, merchant)
    assert refused.value.type == "StripeRateLimited" and not refused.value.non_retryable
    assert refused.value.next_retry_delay is not None and refused.value.next_retry_delay >= timedelta(
        seconds=1
    )
