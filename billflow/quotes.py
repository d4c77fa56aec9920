"""Messages of the quote → invoice flow: what a merchant asks for, what the workflow reports."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

QUOTE_FLOW = "quote"
SUBSCRIPTION_WORKFLOW = "SubscriptionWorkflow"
ACCEPT = "accept"  # signal: the customer accepted the open quote (payload: billflow.signals.Decision)

CollectionMethod = Literal["charge_automatically", "send_invoice"]
QuoteStatus = Literal[
    "creating",
    "draft",
    "awaiting_approval",
    "rejected",
    "open",
    "canceled",
    "expired",
    "accepted",
    "invoice_open",
    "payment_failed",
    "paid",
    "void",
    "uncollectible",
    "subscribed",
    "failed",
]
FINAL_INVOICE_STATUSES = frozenset({"paid", "void", "uncollectible"})


class Recurring(BaseModel):
    interval: Literal["day", "week", "month", "year"]
    interval_count: int = Field(default=1, ge=1, le=365)


class PriceData(BaseModel):
    """An inline price; `unit_amount_minor` in the currency's minor unit."""

    currency: str = Field(min_length=3, max_length=3)
    product: str = Field(min_length=1)
    unit_amount_minor: int = Field(gt=0)
    recurring: Recurring | None = None


class QuoteLine(BaseModel):
    """One quote line: an existing price or an inline one, times a quantity."""

    price_id: str | None = None
    price_data: PriceData | None = None
    quantity: int = Field(default=1, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_price(self) -> QuoteLine:
        if (self.price_id is None) == (self.price_data is None):
            raise ValueError("give exactly one of price_id or price_data")
        return self


class QuoteInput(BaseModel):
    """Start a QuoteWorkflow; the merchant's Stripe key and limits are looked up by activities."""

    merchant_id: str
    user_id: str | None = None
    customer_id: str | None = None
    line_items: list[QuoteLine] = Field(min_length=1, max_length=20)
    expires_in_days: int = Field(default=30, ge=1, le=365)
    description: str | None = Field(default=None, max_length=500)
    collection_method: CollectionMethod = "charge_automatically"
    days_until_due: int | None = Field(default=None, ge=1, le=365)
    # After the due date (send_invoice) or the failed charge (charge_automatically), how long to
    # keep following the invoice before marking it uncollectible.
    grace_days: int = Field(default=7, ge=0, le=90)
    poll_interval_seconds: int = Field(default=3600, ge=1)

    @model_validator(mode="after")
    def _who_and_how(self) -> QuoteInput:
        if (self.user_id is None) == (self.customer_id is None):
            raise ValueError("give exactly one of user_id or customer_id")
        if self.collection_method == "send_invoice" and self.days_until_due is None:
            self.days_until_due = 30
        if self.collection_method == "charge_automatically" and self.days_until_due is not None:
            raise ValueError("days_until_due only applies to collection_method send_invoice")
        return self


class QuoteState(BaseModel):
    """What the `state` query returns, and the workflow's result."""

    quote_id: str
    workflow_id: str
    merchant_id: str
    status: QuoteStatus = "creating"
    stripe_customer_id: str | None = None
    stripe_quote_id: str | None = None
    stripe_invoice_id: str | None = None
    stripe_subscription_id: str | None = None
    subscription_workflow_id: str | None = None
    amount_total_minor: int | None = None
    currency: str | None = None
    expires_at: datetime | None = None
    invoice_due_at: datetime | None = None
    approved_by: str | None = None
    decided_reason: str | None = None
    failure: str | None = None


def quote_public_id(workflow_id: str) -> str:
    """billflow's quote id, derived from the workflow id so any process can compute it."""
    return "quo_" + hashlib.sha256(workflow_id.encode()).hexdigest()[:24]
