"""Payments and refunds, one row per workflow, amounts in minor units."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, Minor, Timestamps


class Payment(Timestamps, Base):
    """A payment as its workflow last recorded it."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(400), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    status: Mapped[str] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    amount_captured_minor: Mapped[int] = mapped_column(Minor, default=0)
    amount_refunded_minor: Mapped[int] = mapped_column(Minor, default=0)
    capture_method: Mapped[str] = mapped_column(String(20))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(80), index=True)
    payment_method: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    failure_code: Mapped[str | None] = mapped_column(String(80))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class Refund(Timestamps, Base):
    """A refund of (part of) a payment."""

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(400), unique=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
