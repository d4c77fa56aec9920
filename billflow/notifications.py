"""The events billflow owes merchants, shared by every flow and the notification workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

NOTIFY_WORKFLOW = "NotifyMerchantWorkflow"


class MerchantEvent(BaseModel):
    """One notification: `event_id` is deterministic, so a replayed step never notifies twice."""

    event_id: str
    merchant_id: str
    type: str = Field(examples=["payment.completed"])
    data: dict[str, Any]


def notify_workflow_id(merchant_id: str, event_id: str) -> str:
    return f"notify/{merchant_id}/{event_id}"


class NotifyState(BaseModel):
    """What a notification run did (its result and `state` query)."""

    event_id: str
    status: str  # pending | delivering | delivered | already_delivered | skipped | failed
    redelivery: bool
    status_code: int | None = None
