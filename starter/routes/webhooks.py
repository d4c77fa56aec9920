"""Stripe webhooks in: verify, record once, signal the waiting workflow, answer fast.

The path names the merchant whose webhook secret signs the delivery. A missing `Stripe-Signature`
is refused before the database is touched; a bad, tampered or stale signature (300 s tolerance) is
400. Each event id is stored once; a duplicate is acknowledged without being applied again. The
event wakes the workflow named in its object's `metadata.workflow_id` with the `stripe_event` signal
(ids only: the workflow re-reads the object from Stripe); events for one workflow that arrive
together share one `stripe_events` signal (starter/signal_coalescer.py), and concurrent deliveries
share their database writes (starter/webhook_inbox.py). Events nobody waits for are kept as
`unrouted`; a Temporal outage marks the row `failed` and answers 503 so Stripe delivers it again.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import stripe
from fastapi import APIRouter, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select, update

from billflow.ledger import Merchant, WebhookEvent, utcnow
from billflow.ledger.db import Ledger
from billflow.metrics import WEBHOOK_LAG_SECONDS
from billflow.signals import StripeEventSignal
from starter.deps import AppState, StateDep
from starter.envelope import ApiError, Envelope, error_responses, ok

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

TOLERANCE_SECONDS = 300
MAX_BODY = 1 << 20  # Stripe events are far smaller; anything bigger is not Stripe
SECRET_TTL_SECONDS = 10.0
# A row still `received` after this long was left by a crashed request: a redelivery processes it.
STALE_RECEIVED = timedelta(minutes=2)

# Objects billflow's flows create and tag with metadata.workflow_id; other objects are unrouted.
ROUTABLE = frozenset(
    {
        "payment_intent",
        "setup_intent",
        "charge",
        "refund",
        "invoice",
        "subscription",
        "subscription_schedule",
        "quote",
        "customer",
        "payment_method",
        "checkout.session",
        "credit_note",
    }
)

Status = Literal["received", "routed", "unrouted", "failed"]


class WebhookAck(BaseModel):
    """What billflow did with a delivery."""

    event_id: str
    status: Status
    duplicate: bool
    workflow_id: str | None = None


def _secret(state: AppState, merchant_id: str) -> str | None:
    cached = state.webhook_secrets.get(merchant_id)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    with state.ledger.session() as session:
        row = session.execute(
            select(Merchant.id, Merchant.stripe_webhook_secret_enc).where(Merchant.id == merchant_id)
        ).first()
    if row is None:
        raise ApiError(404, "not_found", f"no merchant {merchant_id}")
    enc = row.stripe_webhook_secret_enc
    secret = state.box.decrypt(enc) if enc is not None else None
    state.webhook_secrets[merchant_id] = (now + SECRET_TTL_SECONDS, secret)
    return secret


def _workflow_id(obj: dict[str, Any]) -> str | None:
    """The workflow id billflow tagged the object with (invoices carry their subscription's)."""
    candidates = [
        obj.get("metadata"),
        (obj.get("subscription_details") or {}).get("metadata"),
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("metadata"),
    ]
    for meta in candidates:
        if isinstance(meta, dict) and isinstance(meta.get("workflow_id"), str) and meta["workflow_id"]:
            return str(meta["workflow_id"])
    return None


def _claim_retry(ledger: Ledger, event_id: str, status: str) -> bool:
    """Take over a failed (or abandoned) event for reprocessing; False if another request did."""
    with ledger.session() as session:
        claimed = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.stripe_event_id == event_id, WebhookEvent.status == status)
            .values(status="received", received_at=utcnow(), error=None)
            .returning(WebhookEvent.id)
        ).scalar_one_or_none()
        return claimed is not None


@router.post("/stripe/{merchant_id}", responses=error_responses(413, 503))
async def stripe_webhook(
    merchant_id: Annotated[str, Path(max_length=40)],
    request: Request,
    state: StateDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> Envelope[WebhookAck]:
    """Receive one Stripe event for this merchant (configure this URL on the Stripe webhook endpoint)."""
    if not stripe_signature:
        raise ApiError(
            400, "missing_signature", "the Stripe-Signature header is required", "Stripe-Signature"
        )
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise ApiError(413, "payload_too_large", "the body is larger than any Stripe event")
    cached = state.webhook_secrets.get(merchant_id)
    if cached is not None and cached[0] > time.monotonic():
        secret = cached[1]  # the common case: no thread hop, no query
    else:
        secret = await run_in_threadpool(_secret, state, merchant_id)
    if secret is None:
        raise ApiError(
            400, "no_webhook_secret", f"merchant {merchant_id} has no Stripe webhook secret configured"
        )
    try:
        text = payload.decode("utf-8")
        # The SDK's signature check, exactly what `stripe.Webhook.construct_event` runs first (HMAC of
        # "t.payload" with the endpoint secret, constant-time compare, 300 s tolerance); the event is
        # then parsed as plain JSON instead of a StripeObject tree, which cost ~1 ms per delivery.
        stripe.WebhookSignature.verify_header(text, stripe_signature, secret, tolerance=TOLERANCE_SECONDS)
        event = json.loads(text)
    except stripe.SignatureVerificationError:
        raise ApiError(
            400,
            "invalid_signature",
            "the Stripe-Signature does not verify (wrong secret, altered body or too old)",
            "Stripe-Signature",
        ) from None
    except ValueError:
        raise ApiError(400, "invalid_payload", "the body is not a Stripe event") from None

    obj = (event.get("data") or {}).get("object") if isinstance(event, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(obj, dict):
        raise ApiError(400, "invalid_payload", "the body is not a Stripe event")
    event_id: str = event["id"][:80]
    event_type = str(event.get("type", ""))[:80]
    object_type = str(obj.get("object", ""))
    object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    wid = _workflow_id(obj)

    # Decide the route before storing, so events that go nowhere need one write only.
    reason: str | None = None
    if object_type not in ROUTABLE:
        reason = f"object type {object_type or '?'} is not routed"
    elif object_id is None:
        reason = "the object has no id"
    elif wid is None:
        reason = "no workflow_id in the object's metadata"
    elif f"/{merchant_id}/" not in f"/{wid}/":
        reason = "workflow_id belongs to another merchant"
    status: Status = "received" if reason is None else "unrouted"
    values = {
        "stripe_event_id": event_id,
        "merchant_id": merchant_id,
        "type": event_type,
        "object_id": (object_id or "")[:80] or None,
        "workflow_id": wid[:400] if wid else None,
        "status": status,
        "error": reason,
        "payload": event,
        "received_at": utcnow(),
        "processed_at": utcnow() if reason else None,
    }
    stored = await state.webhook_inbox.store(values)
    inserted, existing, received_at = stored.inserted, stored.status, stored.received_at
    created = event.get("created")
    if inserted and isinstance(created, int | float):  # first delivery only: redeliveries are not lag
        WEBHOOK_LAG_SECONDS.observe(max(0.0, time.time() - created))
    if not inserted:
        retry = existing == "failed" or (
            existing == "received"
            and received_at is not None
            and utcnow() - _aware(received_at) > STALE_RECEIVED
        )
        if not retry or not await run_in_threadpool(_claim_retry, state.ledger, event_id, str(existing)):
            return ok(
                WebhookAck(event_id=event_id, status=_status(existing), duplicate=True, workflow_id=wid)
            )
    if reason is not None or wid is None or object_id is None:
        return ok(WebhookAck(event_id=event_id, status="unrouted", duplicate=not inserted, workflow_id=wid))

    signal = StripeEventSignal(
        event_id=event_id, type=event_type, object_type=object_type, object_id=object_id
    )
    outcome, error = await state.stripe_signals.send(wid, signal)
    await state.webhook_inbox.finish(event_id, outcome, error)
    if outcome == "failed":
        raise ApiError(
            503, "temporal_unavailable", "the event is stored but could not be delivered; retry later"
        )
    return ok(WebhookAck(event_id=event_id, status=outcome, duplicate=not inserted, workflow_id=wid))


def _status(value: str | None) -> Status:
    known: tuple[Status, ...] = ("received", "routed", "unrouted", "failed")
    for s in known:
        if value == s:
            return s
    return "received"


def _aware(value: Any) -> Any:
    """SQLite hands back naive datetimes: read them as UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
