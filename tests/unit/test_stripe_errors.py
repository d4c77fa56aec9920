"""Stripe errors are classified once: declines and bad requests are final, outages retry."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from temporalio.exceptions import ApplicationError

from activities.stripe_errors import classify, stripe_errors
from billflow.policies import NON_RETRYABLE_STRIPE


def _body(**error: Any) -> dict[str, Any]:
    return {"error": {"message": "boom", **error}}


@pytest.mark.parametrize(
    ("exc", "expected_type", "retryable"),
    [
        (
            stripe.CardError(
                "declined",
                None,
                "card_declined",
                http_status=402,
                json_body=_body(
                    type="card_error",
                    code="card_declined",
                    decline_code="insufficient_funds",
                    payment_intent={
                        "id": "pi_1",
                        "object": "payment_intent",
                        "status": "requires_payment_method",
                    },
                ),
            ),
            "CardDeclined",
            False,
        ),
        (
            stripe.CardError(
                "auth",
                None,
                "authentication_required",
                http_status=402,
                json_body=_body(type="card_error", code="authentication_required"),
            ),
            "AuthenticationRequired",
            False,
        ),
        (
            stripe.InvalidRequestError(
                "bad",
                "amount",
                "parameter_invalid_integer",
                http_status=400,
                json_body=_body(type="invalid_request_error"),
            ),
            "InvalidRequest",
            False,
        ),
        (
            stripe.InvalidRequestError(
                "missing",
                "id",
                "resource_missing",
                http_status=404,
                json_body=_body(type="invalid_request_error"),
            ),
            "ResourceMissing",
            False,
        ),
        (
            stripe.IdempotencyError("mismatch", http_status=400, json_body=_body(type="idempotency_error")),
            "IdempotencyMismatch",
            False,
        ),
        (stripe.AuthenticationError("bad key", http_status=401), "StripeAuthentication", False),
        (stripe.PermissionError("nope", http_status=403), "StripePermission", False),
        (
            stripe.RateLimitError(
                "slow down", http_status=429, json_body=_body(type="invalid_request_error", code="rate_limit")
            ),
            "StripeRateLimited",
            True,
        ),
        (
            stripe.APIError("in flight", http_status=409, code="idempotency_key_in_use"),
            "StripeUnavailable",
            True,
        ),
        (stripe.APIError("server", http_status=500), "StripeUnavailable", True),
        (stripe.APIConnectionError("reset"), "StripeConnection", True),
    ],
)
def test_classification(exc: stripe.StripeError, expected_type: str, retryable: bool) -> None:
    error = classify(exc)
    assert error.type == expected_type
    assert error.non_retryable is (not retryable)
    # The workflow-side retry policy must agree with the classification.
    assert (expected_type in NON_RETRYABLE_STRIPE) is (not retryable)


def test_decline_details_carry_codes_and_intent() -> None:
    exc = stripe.CardError(
        "declined",
        None,
        "card_declined",
        http_status=402,
        json_body=_body(
            type="card_error",
            code="card_declined",
            decline_code="insufficient_funds",
            payment_intent={"id": "pi_1", "object": "payment_intent", "status": "requires_payment_method"},
        ),
    )
    details = classify(exc).details[0]
    assert details["code"] == "card_declined"
    assert details["decline_code"] == "insufficient_funds"
    assert details["payment_intent_id"] == "pi_1"
    assert details["http_status"] == 402


def test_context_manager_reraises_classified() -> None:
    with pytest.raises(ApplicationError) as info, stripe_errors("create_intent"):
        raise stripe.APIError("server", http_status=503)
    assert info.value.type == "StripeUnavailable"
