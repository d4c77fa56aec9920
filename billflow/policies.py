"""Every retry policy and timeout billflow's workflows use, in one place.

Stripe forgets idempotency keys after 24 hours, so a Stripe write's retries must end well
inside that window (schedule_to_close); after it, a write looks its object up by metadata first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# ApplicationError types raised by activities/stripe_errors.py that retrying cannot fix.
NON_RETRYABLE_STRIPE = [
    "CardDeclined",
    "AuthenticationRequired",
    "InvalidRequest",
    "ResourceMissing",
    "StripeAuthentication",
    "StripePermission",
    "IdempotencyMismatch",
    "MerchantNotConfigured",
]


@dataclass(frozen=True)
class ActivityOptions:
    """Keyword arguments for `workflow.execute_activity`, named for what they protect."""

    start_to_close: timedelta
    schedule_to_close: timedelta | None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def with_retry_intervals(self, initial: float | None, maximum: float | None) -> ActivityOptions:
        """The same options retried from `initial` seconds up to `maximum` (None keeps each as is);
        the longest interval never falls below the first, which Temporal would refuse."""
        if initial is None and maximum is None:
            return self
        first = timedelta(seconds=initial) if initial is not None else self.retry.initial_interval
        longest = timedelta(seconds=maximum) if maximum is not None else self.retry.maximum_interval
        if longest is not None and longest < first:
            longest = first
        return replace(self, retry=replace(self.retry, initial_interval=first, maximum_interval=longest))

    def kwargs(self) -> dict[str, Any]:
        return {
            "start_to_close_timeout": self.start_to_close,
            "schedule_to_close_timeout": self.schedule_to_close,
            "retry_policy": self.retry,
        }


STRIPE_WRITE = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(hours=12),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=NON_RETRYABLE_STRIPE,
    ),
)

STRIPE_READ = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(hours=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=NON_RETRYABLE_STRIPE,
    ),
)

LEDGER_WRITE = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(days=1),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)

MERCHANT_NOTIFY = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(days=3),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=10),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(hours=1),
        non_retryable_error_types=["MerchantNotConfigured"],
    ),
)

LOCAL = ActivityOptions(
    start_to_close=timedelta(seconds=10),
    schedule_to_close=timedelta(minutes=5),
)
