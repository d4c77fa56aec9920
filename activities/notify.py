"""Merchant notifications out: record the event, POST it signed to the merchant, record every attempt.

The `Notification` row (id = the event id) is the once-only guard: `deliver` reads it before
sending and marks it delivered in the same activity after a 2xx, so a retried activity or a
second workflow run never sends an event twice (unless a redelivery asks for it explicitly).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger import Merchant, Notification, NotificationAttempt, utcnow
from billflow.ledger.db import Ledger, upsert
from billflow.signing import HEADER, sign

USER_AGENT = "billflow-notifications/1"


class PrepareNotificationInput(BaseModel):
    event_id: str
    merchant_id: str
    type: str
    data: dict[str, Any]


class PrepareNotificationResult(BaseModel):
    """`created` is the event's creation time (unix seconds), fixed by the first run; the retry
    intervals are the stack's settings (None: the workflow's own schedule)."""

    deliver: bool
    status: str
    created: int
    url: str | None = None
    retry_initial_seconds: float | None = None
    retry_max_seconds: float | None = None


class DeliverNotificationInput(BaseModel):
    """`resend_after`: for a redelivery, a delivery before this instant does not count as done."""

    event_id: str
    merchant_id: str
    resend_after: datetime | None = None


class DeliverNotificationResult(BaseModel):
    outcome: Literal["delivered", "already_delivered", "skipped"]
    status_code: int | None = None
    attempt: int | None = None


class FinishNotificationInput(BaseModel):
    event_id: str
    status: Literal["failed", "skipped"]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def notification_body(event_id: str, event_type: str, created: int, data: dict[str, Any]) -> bytes:
    """The JSON body merchants receive (compact, stable key order)."""
    return json.dumps(
        {"id": event_id, "type": event_type, "created": created, "data": data}, separators=(",", ":")
    ).encode()


class NotifyActivities:
    """Ledger access and one shared HTTP client for merchant notifications."""

    def __init__(self, settings: Settings, ledger: Ledger, http: httpx.AsyncClient | None = None) -> None:
        self._ledger = ledger
        self._box = SecretBox(settings.encryption_key.get_secret_value())
        self._retry = (settings.notify_retry_initial_seconds, settings.notify_retry_max_seconds)
        # Reused for every delivery (connection pooling); redirects are not followed on purpose.
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(15.0, connect=5.0),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    @activity.defn(name="prepare_notification")
    def prepare(self, data: PrepareNotificationInput) -> PrepareNotificationResult:
        """Record the event once; tell the workflow whether there is anywhere to send it."""
        with self._ledger.session() as session:
            upsert(
                session,
                Notification,
                {
                    "id": data.event_id,
                    "merchant_id": data.merchant_id,
                    "event_type": data.type,
                    "payload": data.data,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": utcnow(),
                },
                ["id"],
                update=[],
            )
            row = session.get(Notification, data.event_id)
            merchant = session.get(Merchant, data.merchant_id)
            assert row is not None
            created = int(_utc(row.created_at).timestamp())
            if merchant is None or merchant.webhook_url is None:
                if row.status == "pending":
                    row.status = "skipped"
                return PrepareNotificationResult(deliver=False, status=row.status, created=created)
            if row.status == "skipped":
                row.status = "pending"  # a URL was set since: a redelivery may send it now
            return PrepareNotificationResult(
                deliver=True,
                status=row.status,
                created=created,
                url=merchant.webhook_url,
                retry_initial_seconds=self._retry[0],
                retry_max_seconds=self._retry[1],
            )

    def _target(self, data: DeliverNotificationInput) -> tuple[str, str, bytes] | str:
        """(url, secret, body) to send, or the reason not to send."""
        with self._ledger.session() as session:
            row = session.get(Notification, data.event_id)
            if row is None:
                raise ApplicationError(
                    f"no notification {data.event_id}", type="NotificationMissing", non_retryable=True
                )
            if row.status == "delivered" and row.delivered_at is not None:
                if data.resend_after is None or _utc(row.delivered_at) >= data.resend_after:
                    return "already_delivered"
            merchant = session.get(Merchant, data.merchant_id)
            if (
                merchant is None
                or merchant.webhook_url is None
                or merchant.webhook_signing_secret_enc is None
            ):
                return "skipped"
            body = notification_body(
                row.id, row.event_type, int(_utc(row.created_at).timestamp()), row.payload
            )
            return merchant.webhook_url, self._box.decrypt(merchant.webhook_signing_secret_enc), body

    def _record(self, event_id: str, status_code: int | None, error: str | None) -> int:
        """Store one attempt; a 2xx marks the notification delivered. Returns the attempt number."""
        delivered = status_code is not None and 200 <= status_code < 300
        with self._ledger.session() as session:
            values: dict[str, Any] = {
                "attempts": Notification.attempts + 1,
                "last_status_code": status_code,
            }
            if delivered:
                values |= {"status": "delivered", "delivered_at": utcnow()}
            attempt = session.execute(
                update(Notification)
                .where(Notification.id == event_id)
                .values(**values)
                .returning(Notification.attempts)
            ).scalar_one()
            session.add(
                NotificationAttempt(
                    notification_id=event_id,
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    at=utcnow(),
                )
            )
        return int(attempt)

    @activity.defn(name="deliver_notification")
    async def deliver(self, data: DeliverNotificationInput) -> DeliverNotificationResult:
        """POST the signed event; a non-2xx or network error raises, so Temporal retries with back-off."""
        target = await asyncio.to_thread(self._target, data)
        if isinstance(target, str):
            return DeliverNotificationResult(
                outcome="already_delivered" if target == "already_delivered" else "skipped"
            )
        url, secret, body = target
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(body, secret, int(time.time())),
            "Billflow-Event-Id": data.event_id,
        }
        try:
            resp = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            attempt = await asyncio.to_thread(self._record, data.event_id, None, error)
            raise ApplicationError(f"attempt {attempt}: {error}", type="MerchantUnreachable") from None
        attempt = await asyncio.to_thread(
            self._record, data.event_id, resp.status_code, None if resp.is_success else resp.text[:500]
        )
        if not resp.is_success:
            raise ApplicationError(
                f"attempt {attempt}: merchant answered HTTP {resp.status_code}", type="MerchantRejected"
            )
        return DeliverNotificationResult(outcome="delivered", status_code=resp.status_code, attempt=attempt)

    @activity.defn(name="finish_notification")
    def finish(self, data: FinishNotificationInput) -> None:
        """Mark a notification given up (retries exhausted) unless it got delivered meanwhile."""
        with self._ledger.session() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == data.event_id, Notification.status != "delivered")
                .values(status=data.status)
            )


def notify_activities(settings: Settings, ledger: Ledger) -> list[Any]:
    acts = NotifyActivities(settings, ledger)
    return [acts.prepare, acts.deliver, acts.finish]
