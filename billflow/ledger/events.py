"""Stripe webhook deliveries in, merchant notifications out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billflow.ledger.base import Base, utcnow


class WebhookEvent(Base):
    """A Stripe event, stored once per event id whatever happens to it next."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    stripe_event_id: Mapped[str] = mapped_column(String(80), unique=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    type: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str | None] = mapped_column(String(80), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(20))  # received | routed | unrouted | failed
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Notification(Base):
    """One event billflow owes a merchant, delivered at most once after a 2xx."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # the billflow event id
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class NotificationAttempt(Base):
    """Every POST billflow made to a merchant, kept for the deliveries list."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
