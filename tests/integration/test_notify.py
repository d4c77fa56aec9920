"""Merchant notifications against a real local receiver, the Temporal dev server and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import notify_activities
from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger import Notification, NotificationAttempt
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant, set_webhook_url
from billflow.notifications import NOTIFY_WORKFLOW, MerchantEvent, NotifyState, notify_workflow_id
from billflow.policies import MERCHANT_NOTIFY
from billflow.signing import HEADER, SignatureError, verify
from starter.api import create_app
from tests.integration.notify_fast import (
    FastNotifyMerchantWorkflow,
    GiveUpFastNotifyMerchantWorkflow,
    NotifyingFlow,
)
from workflows.notify import NotifyMerchantWorkflow
from workflows.sandbox import sandboxed_runner

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]


@dataclass
class Receiver:
    """A merchant endpoint that answers `fail_first` requests with 500, then 200."""

    fail_first: int
    requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(fail_first=2)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                rec.requests.append((body, dict(self.headers.items())))
                status = 500 if len(rec.requests) <= rec.fail_first else 200
                rec.statuses.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(pg_url: str, task_queue: str) -> Settings:
    return Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        temporal_task_queue=task_queue,
        admin_token=SecretStr("t"),
    )


def attempts(ledger: Ledger, event_id: str) -> list[int | None]:
    with ledger.session() as session:
        return list(
            session.scalars(
                select(NotificationAttempt.status_code)
                .where(NotificationAttempt.notification_id == event_id)
                .order_by(NotificationAttempt.id)
            )
        )


def notification(ledger: Ledger, event_id: str) -> Notification:
    with ledger.session() as session:
        row = session.get(Notification, event_id)
    assert row is not None
    return row


@pytest.fixture
def worker_for(
    dev_env: WorkflowEnvironment, settings: Settings, pg_ledger: Ledger, task_queue: str
) -> Callable[..., Worker]:
    def _make(workflow: type = FastNotifyMerchantWorkflow) -> Worker:
        return Worker(
            dev_env.client,
            task_queue=task_queue,
            workflow_runner=sandboxed_runner(),
            workflows=[workflow, NotifyingFlow],
            activities=notify_activities(settings, pg_ledger),
            activity_executor=ThreadPoolExecutor(max_workers=4),
        )

    return _make


async def test_fails_twice_then_delivers_exactly_once_with_a_valid_signature(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pg_ledger: Ledger,
    receiver: Receiver,
    task_queue: str,
    worker_for: Callable[..., Worker],
) -> None:
    merchant, key = create_merchant(pg_ledger, "notified")
    secret = set_webhook_url(
        pg_ledger, SecretBox(settings.encryption_key.get_secret_value()), merchant.id, receiver.url
    )
    event = MerchantEvent(
        event_id=f"payment/{merchant.id}/{uuid.uuid4().hex}:payment.completed",
        merchant_id=merchant.id,
        type="payment.completed",
        data={"payment_id": "pay_1", "amount": "12.50", "currency": "EUR"},
    )
    wid = notify_workflow_id(merchant.id, event.event_id)
    async with worker_for():
        state = await dev_env.client.execute_workflow(
            NOTIFY_WORKFLOW, event, id=wid, task_queue=task_queue, result_type=NotifyState
        )
        assert state.status == "delivered"
        assert receiver.statuses == [500, 500, 200]
        for body, headers in receiver.requests:
            verify(body, headers[HEADER], secret)
            with pytest.raises(SignatureError):
                verify(body, headers[HEADER], "bfwhsec_not_the_secret")
        sent = json.loads(receiver.requests[-1][0])
        assert sent["id"] == event.event_id
        assert sent["type"] == "payment.completed"
        assert sent["data"] == event.data
        assert isinstance(sent["created"], int)
        assert attempts(pg_ledger, event.event_id) == [500, 500, 200]
        row = notification(pg_ledger, event.event_id)
        assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)

        # The same event again (a replayed flow step): nothing more is sent.
        again = await dev_env.client.execute_workflow(
            NOTIFY_WORKFLOW, event, id=wid, task_queue=task_queue, result_type=NotifyState
        )
        assert again.status == "already_delivered"
        assert len(receiver.requests) == 3

        # The merchant sees its deliveries and asks for a redelivery over HTTP.
        app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            headers = {"X-API-Key": key.key}
            listed = (await http.get("/v1/merchant/notifications", headers=headers)).json()["data"]
            assert [n["id"] for n in listed] == [event.event_id]
            assert [a["status_code"] for a in listed[0]["attempt_log"]] == [500, 500, 200]
            resp = await http.post(f"/v1/merchant/notifications/{event.event_id}/redeliver", headers=headers)
            assert resp.status_code == 202, resp.text
            redo = resp.json()["data"]["workflow_id"]
            other, other_key = create_merchant(pg_ledger, "other")
            hidden = await http.get(
                f"/v1/merchant/notifications/{event.event_id}", headers={"X-API-Key": other_key.key}
            )
            assert hidden.status_code == 404
        redone = await dev_env.client.get_workflow_handle(redo, result_type=NotifyState).result()
        assert redone.status == "delivered"
        assert redone.redelivery is True
        assert receiver.statuses == [500, 500, 200, 200]
        verify(receiver.requests[-1][0], receiver.requests[-1][1][HEADER], secret)
        assert json.loads(receiver.requests[-1][0]) == sent


async def test_merchant_without_url_is_skipped_without_retries(
    dev_env: WorkflowEnvironment, pg_ledger: Ledger, task_queue: str, worker_for: Callable[..., Worker]
) -> None:
    merchant, _ = create_merchant(pg_ledger, "silent")
    event = MerchantEvent(
        event_id=f"e-{uuid.uuid4().hex}", merchant_id=merchant.id, type="payment.failed", data={}
    )
    async with worker_for():
        state = await dev_env.client.execute_workflow(
            NOTIFY_WORKFLOW,
            event,
            id=notify_workflow_id(merchant.id, event.event_id),
            task_queue=task_queue,
            result_type=NotifyState,
        )
    assert state.status == "skipped"
    assert notification(pg_ledger, event.event_id).status == "skipped"
    assert attempts(pg_ledger, event.event_id) == []


async def test_unreachable_merchant_gives_up_as_failed(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pg_ledger: Ledger,
    task_queue: str,
    worker_for: Callable[..., Worker],
    receiver: Receiver,
) -> None:
    receiver.fail_first = 10**6  # never accepts
    merchant, _ = create_merchant(pg_ledger, "down")
    set_webhook_url(
        pg_ledger, SecretBox(settings.encryption_key.get_secret_value()), merchant.id, receiver.url
    )
    event = MerchantEvent(
        event_id=f"e-{uuid.uuid4().hex}", merchant_id=merchant.id, type="refund.completed", data={}
    )
    async with worker_for(GiveUpFastNotifyMerchantWorkflow):
        state = await dev_env.client.execute_workflow(
            NOTIFY_WORKFLOW,
            event,
            id=notify_workflow_id(merchant.id, event.event_id),
            task_queue=task_queue,
            result_type=NotifyState,
        )
    assert state.status == "failed"
    assert notification(pg_ledger, event.event_id).status == "failed"
    codes = attempts(pg_ledger, event.event_id)
    assert len(codes) >= 2 and set(codes) == {500}


async def test_flows_notify_through_workflows_common_notify_once(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pg_ledger: Ledger,
    receiver: Receiver,
    task_queue: str,
    worker_for: Callable[..., Worker],
) -> None:
    receiver.fail_first = 0
    merchant, _ = create_merchant(pg_ledger, "flow")
    secret = set_webhook_url(
        pg_ledger, SecretBox(settings.encryption_key.get_secret_value()), merchant.id, receiver.url
    )
    event = MerchantEvent(
        event_id=f"quote/{merchant.id}/{uuid.uuid4().hex}:quote.accepted",
        merchant_id=merchant.id,
        type="quote.accepted",
        data={"quote_id": "qt_1"},
    )
    async with worker_for():
        await dev_env.client.execute_workflow(
            NotifyingFlow.run, event, id=f"quote/{merchant.id}/{uuid.uuid4().hex}", task_queue=task_queue
        )
        child = dev_env.client.get_workflow_handle(
            notify_workflow_id(merchant.id, event.event_id), result_type=NotifyState
        )
        assert (await child.result()).status == "delivered"
        described = await child.describe()
    assert receiver.statuses == [200]
    verify(receiver.requests[0][0], receiver.requests[0][1][HEADER], secret)
    # What an operator reads on the notification run the flow started.
    assert await described.static_summary() == f"Notify {merchant.id}: quote.accepted"
    details = await described.static_details() or ""
    assert f"**Event**: {event.event_id}" in details and "first delivery" in details


async def test_a_stack_configured_with_a_short_retry_schedule_retries_on_it(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pg_ledger: Ledger,
    receiver: Receiver,
    task_queue: str,
    worker_for: Callable[..., Worker],
) -> None:
    """The production workflow takes its first retry interval and its longest from the settings
    (a test stack's seconds instead of 10 s growing to an hour), and records them in its history."""
    settings.notify_retry_initial_seconds = 0.2
    settings.notify_retry_max_seconds = 0.5
    merchant, _ = create_merchant(pg_ledger, "impatient")
    set_webhook_url(
        pg_ledger, SecretBox(settings.encryption_key.get_secret_value()), merchant.id, receiver.url
    )
    event = MerchantEvent(
        event_id=f"e-{uuid.uuid4().hex}", merchant_id=merchant.id, type="payment.completed", data={}
    )
    wid = notify_workflow_id(merchant.id, event.event_id)
    async with worker_for(NotifyMerchantWorkflow):
        state = await dev_env.client.execute_workflow(
            NOTIFY_WORKFLOW, event, id=wid, task_queue=task_queue, result_type=NotifyState
        )
    assert state.status == "delivered" and receiver.statuses == [500, 500, 200]
    scheduled = [
        e.activity_task_scheduled_event_attributes
        async for e in dev_env.client.get_workflow_handle(wid).fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "deliver_notification"
    ]
    [deliver] = scheduled
    policy = deliver.retry_policy
    assert policy.initial_interval.ToTimedelta() == timedelta(seconds=0.2)
    assert policy.maximum_interval.ToTimedelta() == timedelta(seconds=0.5)
    assert deliver.schedule_to_close_timeout.ToTimedelta() == MERCHANT_NOTIFY.schedule_to_close
