"""Group-committed webhook writes keep one-row-at-a-time semantics, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from billflow.ledger import WebhookEvent, utcnow
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant
from starter.webhook_inbox import WebhookInbox


def _row(merchant_id: str, event_id: str) -> dict[str, Any]:
    return {
        "stripe_event_id": event_id,
        "merchant_id": merchant_id,
        "type": "payment_intent.succeeded",
        "object_id": "pi_x",
        "workflow_id": f"payment/{merchant_id}/k",
        "status": "received",
        "error": None,
        "payload": {"id": event_id},
        "received_at": utcnow(),
        "processed_at": None,
    }


async def test_concurrent_deliveries_insert_each_event_once(ledger: Ledger) -> None:
    merchant, _ = create_merchant(ledger, "inbox")
    inbox = WebhookInbox(ledger)
    ids = [f"evt_{uuid.uuid4().hex}" for _ in range(40)]
    deliveries = ids + ids[:15] + ids[:5]  # redeliveries, some landing in the same batch
    stored = await asyncio.gather(*(inbox.store(_row(merchant.id, eid)) for eid in deliveries))

    inserted = [eid for eid, s in zip(deliveries, stored, strict=True) if s.inserted]
    assert sorted(inserted) == sorted(ids)  # each id inserted by exactly one delivery
    for s in stored:
        if not s.inserted:
            assert s.status == "received" and s.received_at is not None
    with ledger.session() as session:
        rows = session.scalars(
            select(WebhookEvent.stripe_event_id).where(WebhookEvent.merchant_id == merchant.id)
        )
        assert sorted(rows) == sorted(ids)

    # An event stored by an earlier batch is reported with its stored status, not inserted again.
    await asyncio.gather(*(inbox.finish(eid, "routed", None) for eid in ids[:10]))
    again = await inbox.store(_row(merchant.id, ids[0]))
    assert not again.inserted and again.status == "routed"
    with ledger.session() as session:
        statuses = dict(
            session.execute(
                select(WebhookEvent.stripe_event_id, WebhookEvent.status).where(
                    WebhookEvent.merchant_id == merchant.id
                )
            ).all()
        )
    assert [statuses[eid] for eid in ids[:10]] == ["routed"] * 10
    assert {statuses[eid] for eid in ids[10:]} == {"received"}


async def test_a_failed_batch_fails_every_waiting_delivery(ledger: Ledger) -> None:
    inbox = WebhookInbox(ledger)
    bad = _row("m_missing_merchant", f"evt_{uuid.uuid4().hex}")
    bad["type"] = None  # NOT NULL column: the whole statement fails
    with pytest.raises(Exception):  # noqa: B017,PT011 - the database's own error type differs per dialect
        await asyncio.gather(inbox.store(bad), inbox.store(_row("m_missing_merchant", "evt_other")))
    # The inbox recovers for the next delivery.
    merchant, _ = create_merchant(ledger, "inbox-after-failure")
    assert (await inbox.store(_row(merchant.id, f"evt_{uuid.uuid4().hex}"))).inserted
