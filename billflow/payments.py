"""Payment and refund messages: HTTP bodies, workflow inputs, states and activity results.

Amounts are integer minor units everywhere except the HTTP request bodies, which take the
merchant's decimal major-unit amount and convert it with `billflow.money.to_minor` once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from billflow.money import MoneyError, currency_rule, from_minor, to_minor

# How long a manual-capture authorisation is kept before billflow releases it (Stripe's window
# for online card authorisations is about 7 days).
CAPTURE_WINDOW_SECONDS = 7 * 24 * 3600
# How often a payment waiting for 3-D Secure re-reads its intent when no webhook arrives.
POLL_INTERVAL_SECONDS = 300

# How long the API waits for Stripe's first answer before it returns the payment as `processing`.
FIRST_OUTCOME_WAIT_SECONDS = 30.0

# Signal, update and query names of the payment and refund flows (besides billflow.signals).
OUTCOME_UPDATE = "first_outcome"
CAPTURE_UPDATE = "capture"
CUSTOMER_RETURNED = "customer_returned"


class PaymentStatus(StrEnum):
    PROCESSING = "processing"
    PENDING = "pending"  # waiting for the customer's 3-D Secure
    REQUIRES_APPROVAL = "requires_approval"
    REQUIRES_CAPTURE = "requires_capture"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL_PAYMENT = frozenset({PaymentStatus.COMPLETED, PaymentStatus.FAILED, PaymentStatus.CANCELED})


class RefundStatus(StrEnum):
    PROCESSING = "processing"
    REQUIRES_APPROVAL = "requires_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def payment_id_for(workflow_id: str) -> str:
    """The public payment id, derived from the workflow id so it is known before the run starts."""
    return "pay_" + hashlib.sha256(workflow_id.encode()).hexdigest()[:24]


def refund_id_for(workflow_id: str) -> str:
    return "rfd_" + hashlib.sha256(workflow_id.encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# HTTP bodies


class PaymentCreate(BaseModel):
    """`POST /v1/payments`: exactly one of `payment_method` (a `pm_…` token) or `saved_card_id`."""

    currency: str = Field(min_length=3, max_length=3, examples=["usd"])
    amount: Decimal = Field(examples=["50.00"], description="major units, e.g. 50.00 USD or 500 JPY")
    provider: Literal["stripe"] = "stripe"
    payment_method: str | None = Field(default=None, pattern=r"^pm_[A-Za-z0-9_]+$")
    saved_card_id: str | None = Field(default=None, min_length=1, max_length=40)
    customer: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9_]+$")
    capture: Literal["automatic", "manual"] = "automatic"
    return_url: str | None = Field(default=None, pattern=r"^https?://")
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            return currency_rule(value).code
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("amount")
    @classmethod
    def _chargeable(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        currency = info.data.get("currency")
        if currency is not None:  # an unknown currency is reported on its own field
            to_minor(value, currency)  # MoneyError is a ValueError naming the problem
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"workflow_id", "merchant_id", "payment_id"} & value.keys()
        if reserved:
            raise ValueError(f"metadata keys {sorted(reserved)} are reserved by billflow")
        if len(value) > 40:
            raise ValueError("at most 40 metadata keys")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> PaymentCreate:
        if (self.payment_method is None) == (self.saved_card_id is None):
            raise ValueError("give exactly one of payment_method or saved_card_id")
        return self

    @property
    def amount_minor(self) -> int:
        return to_minor(self.amount, self.currency)


class CaptureBody(BaseModel):
    """`POST /v1/payments/{id}/capture`: omit `amount` to capture everything authorised."""

    amount: Decimal | None = None


class DecisionBody(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)


class RefundCreate(BaseModel):
    """`POST /v1/refunds`: omit `amount` to refund whatever is left of the payment."""

    payment_id: str = Field(min_length=1, max_length=40)
    amount: Decimal | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None


# ---------------------------------------------------------------------------------------------
# Workflow inputs, results and state


class PaymentInput(BaseModel):
    """Everything a PaymentWorkflow needs; secrets never appear here (the merchant id finds them)."""

    merchant_id: str
    payment_id: str
    amount_minor: int = Field(gt=0)
    currency: str
    payment_method: str
    customer: str | None = None
    off_session: bool = False
    saved_card_id: str | None = None
    capture: Literal["automatic", "manual"] = "automatic"
    return_url: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    approval_threshold_minor: int | None = None
    three_ds_timeout_seconds: int = Field(default=3600, gt=0)
    approval_timeout_seconds: int = Field(default=3 * 24 * 3600, gt=0)
    capture_window_seconds: int = Field(default=CAPTURE_WINDOW_SECONDS, gt=0)
    poll_interval_seconds: int = Field(default=POLL_INTERVAL_SECONDS, gt=0)
    request_hash: str | None = None  # hash of the HTTP body, so a reused key with a new body is refused

    @property
    def needs_approval(self) -> bool:
        return self.approval_threshold_minor is not None and self.amount_minor > self.approval_threshold_minor


class Waiting(BaseModel):
    """What a flow waits for, until when, and which signal or update ends the wait."""

    what: str
    until: datetime | None
    ends_with: list[str]


class PaymentState(BaseModel):
    """The `state` query of a payment, also the API's view of it."""

    payment_id: str
    workflow_id: str
    merchant_id: str
    status: PaymentStatus = PaymentStatus.PROCESSING
    amount_minor: int
    currency: str
    capture_method: str
    amount_capturable_minor: int = 0
    amount_captured_minor: int = 0
    customer: str | None = None
    payment_method: str | None = None
    payment_intent_id: str | None = None
    latest_charge_id: str | None = None
    redirect_url: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    approval: dict[str, str] | None = None
    waiting: Waiting | None = None
    request_hash: str | None = None


class RefundInput(BaseModel):
    merchant_id: str
    refund_id: str
    payment_id: str
    amount_minor: int | None = Field(default=None, gt=0)
    reason: str | None = None
    approval_threshold_minor: int | None = None
    approval_timeout_seconds: int = Field(default=3 * 24 * 3600, gt=0)
    request_hash: str | None = None


class RefundState(BaseModel):
    refund_id: str
    workflow_id: str
    merchant_id: str
    payment_id: str
    status: RefundStatus = RefundStatus.PROCESSING
    amount_minor: int | None = None
    currency: str | None = None
    stripe_refund_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    approval: dict[str, str] | None = None
    waiting: Waiting | None = None
    request_hash: str | None = None


# ---------------------------------------------------------------------------------------------
# Activity inputs and results


class IntentView(BaseModel):
    """The facts of a PaymentIntent a workflow acts on (re-read from Stripe, never from events)."""

    id: str
    status: str
    amount: int
    amount_capturable: int = 0
    amount_received: int = 0
    currency: str
    customer: str | None = None
    payment_method: str | None = None
    latest_charge: str | None = None
    redirect_url: str | None = None
    error_code: str | None = None
    decline_code: str | None = None
    error_message: str | None = None


class CreateIntentInput(BaseModel):
    merchant_id: str
    workflow_id: str
    payment_id: str
    idempotency_key: str
    amount_minor: int
    currency: str
    payment_method: str
    customer: str | None = None
    off_session: bool = False
    capture_method: Literal["automatic", "manual"]
    return_url: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class IntentRef(BaseModel):
    merchant_id: str
    payment_intent_id: str


class CaptureIntentInput(BaseModel):
    merchant_id: str
    payment_intent_id: str
    idempotency_key: str
    amount_minor: int | None = None


class CancelIntentInput(BaseModel):
    merchant_id: str
    payment_intent_id: str
    idempotency_key: str
    reason: Literal["abandoned", "requested_by_customer", "duplicate", "fraudulent"] = "abandoned"


class PaymentRecord(BaseModel):
    """One upsert of the ledger's payment row (keyed by workflow id)."""

    state: PaymentState
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReserveRefundInput(BaseModel):
    merchant_id: str
    refund_id: str
    workflow_id: str
    payment_id: str
    amount_minor: int | None = None
    reason: str | None = None


class Reservation(BaseModel):
    """An amount set aside on a payment for one refund, so concurrent refunds never exceed it.

    `accepted` is false when the payment cannot give that much back; `failure_*` say why.
    """

    accepted: bool
    amount_minor: int
    currency: str
    payment_intent_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None


class SettleRefundInput(BaseModel):
    workflow_id: str
    status: RefundStatus
    stripe_refund_id: str | None = None
    failure_reason: str | None = None
    release: bool = False  # give the reserved amount back to the payment


class CreateRefundInput(BaseModel):
    merchant_id: str
    workflow_id: str
    refund_id: str
    payment_id: str
    idempotency_key: str
    payment_intent_id: str
    amount_minor: int
    reason: str | None = None


class RefundView(BaseModel):
    id: str
    status: str
    amount: int
    currency: str
    failure_reason: str | None = None


# ---------------------------------------------------------------------------------------------
# HTTP responses (decimal amounts again)


class PaymentOut(BaseModel):
    """A payment as the API shows it; amounts are decimal strings in the currency's major unit."""

    id: str
    status: str
    amount: Decimal
    amount_captured: Decimal
    amount_refunded: Decimal | None = None
    currency: str
    capture_method: str
    customer: str | None = None
    payment_method: str | None = None
    payment_intent_id: str | None = None
    redirect_url: str | None = Field(default=None, description="send the customer here for 3-D Secure")
    failure_code: str | None = None
    failure_reason: str | None = None
    approval: dict[str, str] | None = None
    waiting: Waiting | None = None
    created_at: datetime | None = None

    @classmethod
    def from_state(cls, state: PaymentState, amount_refunded_minor: int | None = None) -> PaymentOut:
        return cls(
            id=state.payment_id,
            status=state.status.value,
            amount=from_minor(state.amount_minor, state.currency),
            amount_captured=from_minor(state.amount_captured_minor, state.currency),
            amount_refunded=None
            if amount_refunded_minor is None
            else from_minor(amount_refunded_minor, state.currency),
            currency=state.currency,
            capture_method=state.capture_method,
            customer=state.customer,
            payment_method=state.payment_method,
            payment_intent_id=state.payment_intent_id,
            redirect_url=state.redirect_url,
            failure_code=state.failure_code,
            failure_reason=state.failure_reason,
            approval=state.approval,
            waiting=state.waiting,
        )


class RefundOut(BaseModel):
    id: str
    payment_id: str
    status: str
    amount: Decimal | None
    currency: str | None
    stripe_refund_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    approval: dict[str, str] | None = None
    created_at: datetime | None = None

    @classmethod
    def from_state(cls, state: RefundState) -> RefundOut:
        amount = None
        if state.amount_minor and state.currency:
            amount = from_minor(state.amount_minor, state.currency)
        return cls(
            id=state.refund_id,
            payment_id=state.payment_id,
            status=state.status.value,
            amount=amount,
            currency=state.currency,
            stripe_refund_id=state.stripe_refund_id,
            failure_code=state.failure_code,
            failure_reason=state.failure_reason,
            approval=state.approval,
        )
