"""The one place Stripe errors are classified into retryable or final ApplicationErrors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from billflow.metrics import STRIPE_CALL_SECONDS, STRIPE_ERRORS


class StripeErrorDetails(BaseModel):
    """What a workflow learns about a Stripe failure (carried in ApplicationError.details)."""

    http_status: int | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str
    param: str | None = None
    payment_intent_id: str | None = None
    payment_intent_status: str | None = None


def _details(exc: stripe.StripeError) -> StripeErrorDetails:
    err = exc.error
    pi = getattr(err, "payment_intent", None) if err is not None else None
    return StripeErrorDetails(
        http_status=exc.http_status,
        code=exc.code,
        decline_code=getattr(err, "decline_code", None) if err is not None else None,
        message=(getattr(err, "message", None) if err is not None else None) or exc.user_message or str(exc),
        param=getattr(err, "param", None) if err is not None else None,
        payment_intent_id=getattr(pi, "id", None) if pi is not None else None,
        payment_intent_status=getattr(pi, "status", None) if pi is not None else None,
    )


def classify(exc: stripe.StripeError) -> ApplicationError:
    """Map a Stripe SDK error to an ApplicationError whose `type` workflows can branch on."""
    details = _details(exc)
    final: tuple[str, bool]
    if isinstance(exc, stripe.CardError):
        final = ("AuthenticationRequired" if exc.code == "authentication_required" else "CardDeclined", True)
    elif isinstance(exc, stripe.RateLimitError):
        final = ("StripeRateLimited", False)
    elif isinstance(exc, stripe.IdempotencyError):
        final = ("IdempotencyMismatch", True)
    elif isinstance(exc, stripe.InvalidRequestError):
        final = ("ResourceMissing" if exc.code == "resource_missing" else "InvalidRequest", True)
    elif isinstance(exc, stripe.AuthenticationError):
        final = ("StripeAuthentication", True)
    elif isinstance(exc, stripe.PermissionError):
        final = ("StripePermission", True)
    elif isinstance(exc, stripe.APIConnectionError):
        final = ("StripeConnection", False)
    else:  # APIError: 409 lock/idempotency-in-flight, 5xx
        final = ("StripeUnavailable", False)
    error_type, non_retryable = final
    return ApplicationError(
        f"{error_type}: {details.message}",
        details.model_dump(),
        type=error_type,
        non_retryable=non_retryable,
    )


@contextmanager
def stripe_errors(operation: str = "stripe") -> Iterator[None]:
    """Re-raise any Stripe SDK error as its classified ApplicationError, timing the call."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except stripe.StripeError as exc:
        error = classify(exc)
        outcome = error.type or "error"
        STRIPE_ERRORS.labels(outcome).inc()
        raise error from exc
    finally:
        STRIPE_CALL_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)
