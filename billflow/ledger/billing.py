"""Recurring and invoiced billing: subscriptions, quotes and invoices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, Minor, Timestamps


class Subscription(Timestamps, Base):
    """A subscription owned by a SubscriptionWorkflow."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(400), unique=True)
    user_id: Mapped[str] = mapped_column(String(200))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(80))
    stripe_price_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int | None] = mapped_column(Minor)
    currency: Mapped[str | None] = mapped_column(String(3))
    current_period_end: Mapped[datetime | None]
    periods_paid: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)


class Quote(Timestamps, Base):
    """A quote owned by a QuoteWorkflow."""

    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(400), unique=True)
    stripe_quote_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(40), index=True)
    amount_total_minor: Mapped[int | None] = mapped_column(Minor)
    currency: Mapped[str | None] = mapped_column(String(3))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(80))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(80))


class Invoice(Timestamps, Base):
    """A Stripe invoice seen by any flow (quote, subscription renewal, direct)."""

    __tablename__ = "invoices"

    stripe_invoice_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(400), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(80))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(80), index=True)
    stripe_quote_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(40))
    billing_reason: Mapped[str | None] = mapped_column(String(60))
    amount_due_minor: Mapped[int] = mapped_column(Minor, default=0)
    amount_paid_minor: Mapped[int] = mapped_column(Minor, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
