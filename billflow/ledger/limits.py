"""Shared state of the per-merchant Stripe rate limiter (one row per merchant)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base


class StripeRateSlot(Base):
    """GCRA's theoretical arrival time: when the merchant's next Stripe request may start."""

    __tablename__ = "stripe_rate_slots"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_at: Mapped[float]
