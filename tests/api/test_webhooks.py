"""Stripe webhooks over HTTP with real signatures, against PostgreSQL and the Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import pytest
import stripe
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger import WebhookEvent
from billflow.ledger.db import Ledger
from billflow.merchants import save_stripe_credentials
from billflow.signals import StripeEventSignal
from starter.api import create_app
from tests.api.conftest import Shop
from tests.api.signal_workflow import WaitForStripeEvents

pytestmark = pytest.mark.devserver

WHSEC = "whsec_test_" + "a" * 32


@pytest.fixture
async def hook_client(
    settings: Settings, pg_ledger: Ledger, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billflow.test"
    ) as c:
        yield c


@pytest.fixture
def shop(make_merchant: Callable[..., Shop], pg_ledger: Ledger, settings: Settings) -> Shop:
    m = make_merchant()
    box = SecretBox(settings.encryption_key.get_secret_value())
    save_stripe_credentials(
        pg_ledger,
        box,
        m.id,
        secret_key="sk_test_x",
        account_id="acct_x",
        webhook_secret=WHSEC,
        webhook_endpoint_id=None,
    )
    return m


def event(
    object_type: str = "payment_intent", workflow_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": f"{object_type[:2]}_{uuid.uuid4().hex[:14]}",
        "object": object_type,
        "metadata": {},
    }
    if workflow_id:
        obj["metadata"]["workflow_id"] = workflow_id
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": extra.pop("type", f"{object_type}.succeeded"),
        "created": int(time.time()),
        "data": {"object": obj},
        **extra,
    }


def signed(evt: dict[str, Any], secret: str = WHSEC, ts: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(evt)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=ts or int(time.time()))
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


async def post(
    client: httpx.AsyncClient, merchant_id: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/v1/webhooks/stripe/{merchant_id}", content=body, headers=headers)


def stored(ledger: Ledger, event_id: str) -> list[WebhookEvent]:
    with ledger.session() as session:
        return list(session.scalars(select(WebhookEvent).where(WebhookEvent.stripe_event_id == event_id)))


async def test_valid_event_signals_the_waiting_workflow(
    hook_client: httpx.AsyncClient,
    shop: Shop,
    pg_ledger: Ledger,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    wid = f"payment/{shop.id}/{uuid.uuid4().hex}"
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitForStripeEvents]):
        handle = await dev_env.client.start_workflow(
            WaitForStripeEvents.run, 1, id=wid, task_queue=task_queue
        )
        evt = event(workflow_id=wid)
        resp = await post(hook_client, shop.id, *signed(evt))
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == {
            "event_id": evt["id"],
            "status": "routed",
            "duplicate": False,
            "workflow_id": wid,
        }
        got = await handle.result()
    obj = evt["data"]["object"]
    assert got == [
        StripeEventSignal(
            event_id=evt["id"], type=evt["type"], object_type="payment_intent", object_id=obj["id"]
        )
    ]
    [row] = stored(pg_ledger, evt["id"])
    assert (row.status, row.workflow_id, row.object_id, row.merchant_id) == (
        "routed",
        wid,
        obj["id"],
        shop.id,
    )
    assert row.processed_at is not None


async def test_duplicate_and_out_of_order_events_are_applied_once_each(
    hook_client: httpx.AsyncClient,
    shop: Shop,
    pg_ledger: Ledger,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    wid = f"payment/{shop.id}/{uuid.uuid4().hex}"
    later = event(workflow_id=wid, type="payment_intent.succeeded", created=int(time.time()))
    earlier = event(workflow_id=wid, type="payment_intent.requires_action", created=int(time.time()) - 60)
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitForStripeEvents]):
        handle = await dev_env.client.start_workflow(
            WaitForStripeEvents.run, 2, id=wid, task_queue=task_queue
        )
        first = await post(hook_client, shop.id, *signed(later))  # the later event arrives first
        dup = await post(hook_client, shop.id, *signed(later))  # Stripe redelivers it (new signature)
        second = await post(hook_client, shop.id, *signed(earlier))
        got = await handle.result()
    assert [r.status_code for r in (first, dup, second)] == [200, 200, 200]
    assert dup.json()["data"]["duplicate"] is True
    assert dup.json()["data"]["status"] == "routed"
    assert [e.event_id for e in got] == [later["id"], earlier["id"]]
    assert [r.status for r in stored(pg_ledger, later["id"])] == ["routed"]
    assert [r.status for r in stored(pg_ledger, earlier["id"])] == ["routed"]


@pytest.mark.parametrize("problem", ["tampered", "wrong_secret", "stale", "garbage_header"])
async def test_bad_signatures_are_400_and_store_nothing(
    hook_client: httpx.AsyncClient, shop: Shop, pg_ledger: Ledger, problem: str
) -> None:
    evt = event(workflow_id=f"payment/{shop.id}/x")
    if problem == "wrong_secret":
        body, headers = signed(evt, secret="whsec_someone_else")
    elif problem == "stale":
        body, headers = signed(evt, ts=int(time.time()) - 301)
    else:
        body, headers = signed(evt)
    if problem == "tampered":
        body = body.replace(b'"payment_intent"', b'"refund"')
    if problem == "garbage_header":
        headers["Stripe-Signature"] = "t=abc,v1=zzz"
    resp = await post(hook_client, shop.id, body, headers)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_signature"
    assert stored(pg_ledger, evt["id"]) == []


async def test_missing_signature_is_400_before_the_database(
    hook_client: httpx.AsyncClient, pg_ledger: Ledger
) -> None:
    evt = event()
    # The merchant does not even exist: the header check comes first, so no 404.
    resp = await post(
        hook_client, "mer_nobody", json.dumps(evt).encode(), {"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["field"] == "Stripe-Signature"
    assert stored(pg_ledger, evt["id"]) == []


async def test_unknown_merchant_is_404(hook_client: httpx.AsyncClient) -> None:
    resp = await post(hook_client, "mer_nobody", *signed(event()))
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unknown_object", "not routed"),
        ("no_workflow_id", "no workflow_id"),
        ("closed_workflow", "not found"),
        ("other_merchant", "another merchant"),
    ],
)
async def test_events_nobody_waits_for_are_recorded_unrouted(
    hook_client: httpx.AsyncClient, shop: Shop, pg_ledger: Ledger, kind: str, reason: str
) -> None:
    if kind == "unknown_object":
        evt = event("payout", workflow_id=f"payment/{shop.id}/x", type="payout.paid")
    elif kind == "no_workflow_id":
        evt = event()
    elif kind == "closed_workflow":
        evt = event(workflow_id=f"payment/{shop.id}/{uuid.uuid4().hex}")
    else:
        evt = event(workflow_id=f"payment/mer_other/{uuid.uuid4().hex}")
    resp = await post(hook_client, shop.id, *signed(evt))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["status"] == "unrouted"
    [row] = stored(pg_ledger, evt["id"])
    assert row.status == "unrouted"
    assert row.error is not None and reason in row.error
    again = await post(hook_client, shop.id, *signed(evt))
    assert again.json()["data"] == resp.json()["data"] | {"duplicate": True}
    assert len(stored(pg_ledger, evt["id"])) == 1


async def test_first_delivery_records_its_lag_on_the_api_metrics_page(
    hook_client: httpx.AsyncClient, shop: Shop
) -> None:
    def lag(page: str) -> tuple[float, float]:
        count = total = 0.0
        for family in text_string_to_metric_families(page):
            for sample in family.samples:
                if sample.name == "billflow_webhook_lag_seconds_count":
                    count = sample.value
                elif sample.name == "billflow_webhook_lag_seconds_sum":
                    total = sample.value
        return count, total

    count, total = lag((await hook_client.get("/metrics")).text)
    evt = event(created=int(time.time()) - 42)  # Stripe sent it 42 s ago (unrouted: no workflow needed)
    assert (await post(hook_client, shop.id, *signed(evt))).status_code == 200
    assert (await post(hook_client, shop.id, *signed(evt))).json()["data"]["duplicate"] is True
    after_count, after_total = lag((await hook_client.get("/metrics")).text)
    assert after_count - count == 1  # the redelivery is not a second lag
    assert 42 <= after_total - total < 42 + 30


class _DownHandle:
    async def signal(self, *_: Any) -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


class _DownClient:
    def get_workflow_handle(self, _: str) -> _DownHandle:
        return _DownHandle()


async def test_temporal_outage_marks_failed_and_a_redelivery_routes_it(
    settings: Settings,
    pg_ledger: Ledger,
    shop: Shop,
    hook_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    down: FastAPI = create_app(
        settings=settings, ledger=pg_ledger, temporal_client=cast(Client, _DownClient())
    )
    wid = f"payment/{shop.id}/{uuid.uuid4().hex}"
    evt = event(workflow_id=wid)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=down), base_url="http://billflow.test"
    ) as c:
        resp = await post(c, shop.id, *signed(evt))
    assert resp.status_code == 503
    assert [r.status for r in stored(pg_ledger, evt["id"])] == ["failed"]
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitForStripeEvents]):
        handle = await dev_env.client.start_workflow(
            WaitForStripeEvents.run, 1, id=wid, task_queue=task_queue
        )
        retry = await post(hook_client, shop.id, *signed(evt))
        got = await handle.result()
    assert retry.status_code == 200
    assert retry.json()["data"]["status"] == "routed"
    assert [e.event_id for e in got] == [evt["id"]]
    assert [r.status for r in stored(pg_ledger, evt["id"])] == ["routed"]


async def test_events_arriving_together_reach_their_workflow_once_each(
    hook_client: httpx.AsyncClient,
    shop: Shop,
    pg_ledger: Ledger,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    """A burst for one workflow travels in fewer signals (stripe_events), yet every event lands once."""
    wid = f"payment/{shop.id}/{uuid.uuid4().hex}"
    burst = [event(workflow_id=wid, type=f"payment_intent.step{i}") for i in range(12)]
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitForStripeEvents]):
        handle = await dev_env.client.start_workflow(
            WaitForStripeEvents.run, len(burst), id=wid, task_queue=task_queue
        )
        answers = await asyncio.gather(*(post(hook_client, shop.id, *signed(e)) for e in burst))
        got = await handle.result()
        signalled = [
            e.workflow_execution_signaled_event_attributes.signal_name
            async for e in handle.fetch_history_events()
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
    assert [a.json()["data"]["status"] for a in answers] == ["routed"] * len(burst)
    assert sorted(e.event_id for e in got) == sorted(e["id"] for e in burst)
    assert "stripe_events" in signalled and len(signalled) < len(burst)
    for e in burst:
        [row] = stored(pg_ledger, e["id"])
        assert row.status == "routed"
