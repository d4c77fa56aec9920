"""The shared Stripe rate limiter spaces requests by 1/rate, across threads and processes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

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
