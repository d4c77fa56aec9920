"""Messages of saved cards and subscriptions: Stripe views, signal payloads and the carried state.

Shared by the workflows, the activities and the HTTP routes, so each shape is defined once.
Amounts are integers in minor units; timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from billflow.signals import Decision

# Signal / update / query names of SubscriptionWorkflow (plus the shared `cancel`, `stripe_event`, `state`).
PAUSE = "pause"
RESUME = "resume"
CHANGE_PLAN = "change_plan"
UPDATE_CARD = "update_card"
# Update of SaveCardWorkflow that answers once the card is saved, failed or waits for 3-D Secure.
CARD_OUTCOME = "outcome"

Interval = Literal["day", "week", "month", "year"]
Proration = Literal["create_prorations", "none", "always_invoice"]


def subscription_id(workflow_id: str) -> str:
    """billflow's public id of a subscription, derived from (and stable for) its workflow id."""
    return "bsub_" + hashlib.sha256(workflow_id.encode()).hexdigest()[:24]


def card_id(merchant_id: str, payment_method_id: str) -> str:
    """billflow's public id of a saved card."""
    return "card_" + hashlib.sha256(f"{merchant_id}\x1f{payment_method_id}".encode()).hexdigest()[:24]


class Plan(BaseModel):
    """What to charge each period: an existing Stripe price, or an amount billflow turns into a price."""

    price_id: str | None = None
    amount_minor: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    interval: Interval = "month"
    interval_count: int = Field(default=1, ge=1, le=36)

    @model_validator(mode="after")
    def _price_or_amount(self) -> Plan:
        if self.price_id is None and (self.amount_minor is None or self.currency is None):
            raise ValueError("give price_id, or amount and currency")
        return self


class InvoiceView(BaseModel):
    """The facts of a Stripe invoice a subscription flow acts on."""

    id: str
    status: str  # draft | open | paid | void | uncollectible
    billing_reason: str | None = None
    amount_due: int = 0
    amount_paid: int = 0
    currency: str = "usd"
    attempt_count: int = 0
    created: datetime
    period_start: datetime | None = None  # of the first line (the period it pays for)
    period_end: datetime | None = None
    customer_id: str | None = None
    subscription_id: str | None = None


class SubscriptionView(BaseModel):
    """The facts of a Stripe subscription a flow acts on (re-read, never trusted from an event)."""

    id: str
    status: str
    customer_id: str
    item_id: str | None = None
    price_id: str | None = None
    product_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    interval: str | None = None
    interval_count: int = 1
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    paused: bool = False
    default_payment_method: str | None = None
    trial_end: datetime | None = None
    latest_invoice: InvoiceView | None = None


class RenewalCheck(BaseModel):
    """The subscription as Stripe has it now, and its invoices created since a boundary (oldest first)."""

    subscription: SubscriptionView
    invoices: list[InvoiceView] = Field(default_factory=list)


class CancelRequest(Decision):
    """`cancel` signal: a Decision (who, why) plus when. `{"by": "api", "at_period_end": true}`."""

    at_period_end: bool = False


class ChangePlan(BaseModel):
    """`change_plan` signal: the new plan, and how Stripe prorates the rest of the period."""

    plan: Plan
    proration_behavior: Proration = "create_prorations"
    by: str = "api"


class UpdateCard(BaseModel):
    """`update_card` signal: a card already saved for this customer (`pm_…`) becomes the default."""

    payment_method_id: str
    by: str = "api"


class SubscriptionState(BaseModel):
    """What the flow knows; carried across continue-as-new, so it stays small (counters, no lists of periods)."""

    subscription_id: str
    status: str = (
        "creating"  # creating|incomplete|trialing|active|past_due|paused|canceled|incomplete_expired
    )
    stripe_subscription_id: str | None = None
    stripe_customer_id: str | None = None
    item_id: str | None = None
    price_id: str | None = None
    product_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    interval: str | None = None
    interval_count: int = 1
    payment_method_id: str | None = None
    period: int = 0  # number of the current billing period, 1 = the first
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    next_renewal_at: datetime | None = None
    cancel_at_period_end: bool = False
    paused: bool = False
    periods_paid: int = 0
    failures: int = 0  # failed charges over the whole life
    dunning_attempt: int = 0  # retries made for the current unpaid invoice
    unpaid_invoice_id: str | None = None
    last_invoice_id: str | None = None
    settled_invoices: list[str] = Field(default_factory=list)  # the last few cycle invoices settled
    op_seq: int = 0  # counts Stripe writes made by signals, for their idempotency keys
    ended_reason: str | None = None


class SubscriptionInput(BaseModel):
    """SubscriptionWorkflow's input (re-exported by workflows/subscription.py); `state` is set by continue-as-new.

    Lives here, outside the workflow module, so a new run's sandbox needn't rebuild it.
    """

    merchant_id: str
    user_id: str | None = None
    stripe_customer_id: str | None = None
    price_id: str | None = None
    adopt_subscription_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    interval: Interval = "month"
    interval_count: int = 1
    payment_method_id: str | None = None
    trial_days: int | None = None
    product_name: str = "Subscription"
    retry_schedule_days: list[float] = Field(default_factory=lambda: [1.0, 3.0, 5.0])
    renewal_grace_seconds: int = 3 * 3600
    incomplete_hours: int = 23
    cancel_after_periods: int | None = None  # a fixed term: cancel at the end of this period number
    check_now: bool = False  # set by continue-as-new: a renewal fell due, ask Stripe at once
    state: SubscriptionState | None = None


class SubscriptionResult(BaseModel):
    subscription_id: str
    stripe_subscription_id: str | None
    status: str
    periods_paid: int
    failures: int


class CardView(BaseModel):
    """A saved card as the API returns it."""

    id: str
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = False


class SaveCardState(BaseModel):
    """SaveCardWorkflow's state and the answer of its `outcome` update."""

    status: str = "started"  # started | pending | succeeded | failed | expired
    stripe_customer_id: str | None = None
    setup_intent_id: str | None = None
    redirect_url: str | None = None
    card: CardView | None = None
    deduplicated: bool = False
    error_code: str | None = None
    error_message: str | None = None
