"""Stripe customers mapped to merchants' users, and the cards they saved."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, Timestamps


class Customer(Timestamps, Base):
    """One Stripe customer per merchant user."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("merchant_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    user_id: Mapped[str] = mapped_column(String(200))
    stripe_customer_id: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))


class SavedCard(Timestamps, Base):
    """A card saved for off-session use; `fingerprint` finds twins of the same card."""

    __tablename__ = "saved_cards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(80), index=True)
    stripe_payment_method_id: Mapped[str] = mapped_column(String(80), unique=True)
    brand: Mapped[str] = mapped_column(String(40))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    fingerprint: Mapped[str | None] = mapped_column(String(80), index=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
