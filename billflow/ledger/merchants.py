"""Merchants, their API keys and request idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, Minor, Timestamps


class Merchant(Timestamps, Base):
    """A business using billflow; its Stripe secrets are stored encrypted (Fernet)."""

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stripe_secret_key_enc: Mapped[str | None] = mapped_column(Text)
    stripe_webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    stripe_account_id: Mapped[str | None] = mapped_column(String(80))
    stripe_webhook_endpoint_id: Mapped[str | None] = mapped_column(String(80))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_signing_secret_enc: Mapped[str | None] = mapped_column(Text)
    payment_approval_threshold_minor: Mapped[int | None] = mapped_column(Minor)
    refund_approval_threshold_minor: Mapped[int | None] = mapped_column(Minor)
    quote_auto_approve_below_minor: Mapped[int | None] = mapped_column(Minor)


class ApiKey(Base):
    """A merchant's API key: only a hash is kept; the prefix finds the row without scanning."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="default")
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class IdempotentRequest(Base):
    """An API request's Idempotency-Key: the body hash it was first used with and what it started."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("merchant_id", "scope", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    scope: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(400))
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
