"""The merchant's notifications: what billflow sent, every attempt, and redelivery on request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select

from billflow.ledger import Notification, NotificationAttempt
from billflow.ledger.db import Ledger
from billflow.notifications import NOTIFY_WORKFLOW, MerchantEvent, notify_workflow_id
from starter.deps import LedgerDep, MerchantDep, StateDep, require_scope
from starter.envelope import ApiError, Envelope, error_responses, ok
from workflows.common import notify_details

router = APIRouter(prefix="/v1/merchant/notifications", tags=["notifications"])

NotificationStatus = Literal["pending", "delivered", "failed", "skipped"]
EventIdPath = Annotated[str, Path(max_length=120, description="the event id (may contain '/')")]


class AttemptView(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime


class NotificationView(BaseModel):
    id: str
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    data: dict[str, object]
    attempt_log: list[AttemptView]


class RedeliveryView(BaseModel):
    notification_id: str
    workflow_id: str


def _view(row: Notification, attempts: list[NotificationAttempt]) -> NotificationView:
    return NotificationView(
        id=row.id,
        type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        data=row.payload,
        attempt_log=[
            AttemptView(attempt=a.attempt, status_code=a.status_code, error=a.error, at=a.at)
            for a in attempts
        ],
    )


def _list(ledger: Ledger, merchant_id: str, status: str | None, limit: int) -> list[NotificationView]:
    with ledger.session() as session:
        query = select(Notification).where(Notification.merchant_id == merchant_id)
        if status is not None:
            query = query.where(Notification.status == status)
        rows = list(session.scalars(query.order_by(Notification.created_at.desc()).limit(limit)))
        attempts: dict[str, list[NotificationAttempt]] = {r.id: [] for r in rows}
        if rows:
            for a in session.scalars(
                select(NotificationAttempt)
                .where(NotificationAttempt.notification_id.in_(list(attempts)))
                .order_by(NotificationAttempt.id)
            ):
                attempts[a.notification_id].append(a)
        return [_view(r, attempts[r.id]) for r in rows]


def _one(ledger: Ledger, merchant_id: str, event_id: str) -> NotificationView:
    with ledger.session() as session:
        row = session.get(Notification, event_id)
        if row is None or row.merchant_id != merchant_id:
            raise ApiError(404, "not_found", f"no notification {event_id}")
        attempts = list(
            session.scalars(
                select(NotificationAttempt)
                .where(NotificationAttempt.notification_id == event_id)
                .order_by(NotificationAttempt.id)
            )
        )
        return _view(row, attempts)


@router.get("", dependencies=[require_scope("webhooks:read")])
def list_notifications(
    merchant: MerchantDep,
    ledger: LedgerDep,
    status: NotificationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Envelope[list[NotificationView]]:
    """The latest notifications with every delivery attempt."""
    return ok(_list(ledger, merchant.merchant_id, status, limit))


@router.post(
    "/{event_id:path}/redeliver",
    dependencies=[require_scope("merchant:write")],
    status_code=202,
    responses=error_responses(503),
)
async def redeliver(
    event_id: EventIdPath,
    merchant: MerchantDep,
    ledger: LedgerDep,
    state: StateDep,
) -> Envelope[RedeliveryView]:
    """Send the event again (even if it was delivered) in a new workflow run."""
    view = await run_in_threadpool(_one, ledger, merchant.merchant_id, event_id)
    client = await state.temporal()
    wid = f"{notify_workflow_id(merchant.merchant_id, event_id)}/redeliver/{uuid.uuid4().hex[:12]}"
    event = MerchantEvent(event_id=view.id, merchant_id=merchant.merchant_id, type=view.type, data=view.data)
    await client.start_workflow(
        NOTIFY_WORKFLOW,
        event,
        id=wid,
        task_queue=state.settings.temporal_task_queue,
        static_summary=f"Redeliver {view.type} to {merchant.merchant_id}",
        static_details=notify_details(event, redelivery=True),
    )
    return ok(RedeliveryView(notification_id=view.id, workflow_id=wid))


@router.get("/{event_id:path}", dependencies=[require_scope("webhooks:read")])
def get_notification(
    event_id: EventIdPath, merchant: MerchantDep, ledger: LedgerDep
) -> Envelope[NotificationView]:
    """One notification with its attempts."""
    return ok(_one(ledger, merchant.merchant_id, event_id))
