"""Differences found by reconciliation runs between the ledger and Stripe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, utcnow


class ReconciliationDifference(Base):
    """One field of one object that the ledger and Stripe disagree on, per reconciliation run."""

    __tablename__ = "reconciliation_differences"
    __table_args__ = (UniqueConstraint("run_key", "object_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_key: Mapped[str] = mapped_column(String(400), index=True)
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(120))
    field: Mapped[str] = mapped_column(String(60))
    ledger_value: Mapped[str | None] = mapped_column(Text)
    stripe_value: Mapped[str | None] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
