"""What operators see, flow by flow: a waiting payment, refund, quote, saved card and subscription is
found by its search attributes (the visibility API, as the UI's search box), reads as sentences
(static summary and details, current details, activity summaries), and moves on when the JSON its
current details show is sent as a raw signal, exactly as from the UI's Send Signal dialog. The
payment is also checked in the real Temporal UI in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecution, WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner, Result

from activities.registry import Deps
from bench.harness.ports import free_port
from billflow.config import Settings, get_settings
from billflow.crypto import SecretBox
from billflow.ledger import Merchant
from billflow.ledger.db import Ledger
from billflow.local_temporal import start_dev_server
from billflow.merchants import create_merchant
from billflow.payments import RefundState
from billflow.quotes import QuoteState
from billflow.search_attributes import ALL
from billflow.subscriptions import SaveCardState, SubscriptionState
from starter.api import create_app
from starter.cli import app as cli_app
from worker import build_worker

pytestmark = [pytest.mark.devserver]
# `BILLFLOW_SCREENSHOT_DIR=docs/screenshots` refreshes the README's pictures.
SCREENSHOTS = Path(
    os.environ.get("BILLFLOW_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "billflow-screenshots")
)


@dataclass
class Ops:
    client: Client
    api: httpx.AsyncClient
    ui_url: str
    merchant_id: str
    emulator_url: str


@pytest.fixture(scope="module")
async def ops(sqlite_url: str, emulator_url: str) -> AsyncIterator[Ops]:
    ui_port = free_port()
    env = await start_dev_server(ui_port=ui_port)
    task_queue = f"tq-{uuid.uuid4().hex}"
    settings = Settings(
        environment="test",
        database_url=sqlite_url,
        stripe_api_base=emulator_url,
        temporal_task_queue=task_queue,
    )
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    merchant, key = create_merchant(ledger, "operators")
    box = SecretBox(settings.encryption_key.get_secret_value())
    with ledger.session() as session:
        session.execute(
            update(Merchant)
            .where(Merchant.id == merchant.id)
            .values(
                stripe_secret_key_enc=box.encrypt(f"sk_test_{uuid.uuid4().hex}"),
                payment_approval_threshold_minor=1000,
                refund_approval_threshold_minor=500,
            )
        )
    port = free_port()
    app = create_app(settings=settings, ledger=ledger, temporal_client=env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    deps = Deps.build(settings)
    async with (
        build_worker(env.client, deps, task_queue=task_queue),
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key.key}, timeout=60
        ) as api,
    ):
        yield Ops(env.client, api, f"http://127.0.0.1:{ui_port}", merchant.id, emulator_url)
    server.should_exit = True
    await serving
    ledger.dispose()
    await env.shutdown()


# ----------------------------------------------------------------------------- what an operator does


async def find_one(ops: Ops, query: str) -> WorkflowExecution:
    """The one run the visibility query finds (as typed into the UI's search box)."""
    found: list[WorkflowExecution] = []
    for _ in range(100):  # visibility is eventually consistent
        found = [wf async for wf in ops.client.list_workflows(f'{query} AND MerchantId="{ops.merchant_id}"')]
        if found:
            break
        await asyncio.sleep(0.1)
    assert len(found) == 1, (query, found)
    return found[0]


def facts(attrs: TypedSearchAttributes) -> dict[str, Any]:
    """billflow's six search attributes of a run, by name (None where unset)."""
    return {key.name: attrs.get(key) for key in ALL}


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """What the UI shows as the run's current details (`workflow.set_current_details`)."""
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(meta.current_details)


async def details_once_waiting(handle: WorkflowHandle[Any, Any], what: str) -> str:
    """The current details once the run waits for `what` (a run records its steps before it waits)."""
    current = ""
    for _ in range(100):
        current = await current_details(handle)
        if what in current:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} never waited for {what!r}; its details: {current!r}")


def signal_examples(details: str) -> dict[str, str]:
    """The signals the details offer, each with the JSON text shown for the Send Signal dialog."""
    examples = dict(re.findall(r"signal `(\w+)` with `(\{.*?\})`", details))
    for text in examples.values():
        json.loads(text)  # what the details show must be valid JSON
    return examples


async def send_as_ui(ops: Ops, workflow_id: str, signal: str, json_text: str) -> None:
    """Signal with a raw `json/plain` payload of exactly this text, as the UI's Send Signal dialog does
    (no client-side model, no data converter)."""
    await ops.client.workflow_service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=ops.client.namespace,
            workflow_execution=ExecutionRef(workflow_id=workflow_id),
            signal_name=signal,
            input=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json_text.encode())]),
            identity="operators-test (as the Temporal UI)",
            request_id=uuid.uuid4().hex,
        )
    )


async def activity_summaries(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The `summary` of every scheduled activity, as the UI's event history shows it."""
    history = await handle.fetch_history()
    converter = pydantic_data_converter.payload_converter
    return [
        str(converter.from_payload(event.user_metadata.summary, str))
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.user_metadata.HasField("summary")
    ]


async def status_becomes(handle: WorkflowHandle[Any, Any], status: str) -> dict[str, Any]:
    """Wait until the run's BillingStatus is `status`; its six facts then."""
    seen: dict[str, Any] = {}
    for _ in range(150):
        seen = facts((await handle.describe()).typed_search_attributes)
        if seen["BillingStatus"] == status:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} stayed {seen['BillingStatus']!r}, expected {status!r}")


async def read_run(ops: Ops, query: str) -> tuple[WorkflowHandle[Any, Any], dict[str, Any], str, str, str]:
    """Find the run by its search attributes; (handle, facts, static summary, static details, current
    details), the facts checked to be the same through the visibility list and `describe()`."""
    found = await find_one(ops, query)
    handle = ops.client.get_workflow_handle(found.id)
    desc = await handle.describe()
    listed = facts(found.typed_search_attributes)
    assert facts(desc.typed_search_attributes) == listed
    summary, details = await desc.static_summary(), await desc.static_details()
    assert summary and details, (summary, details)
    return handle, listed, summary, details, await current_details(handle)


async def write(ops: Ops, path: str, body: dict[str, Any]) -> Any:
    response = await ops.api.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code < 300, response.text
    return response.json()["data"]


# ----------------------------------------------------------------------------- payments


async def _awaiting_approval(ops: Ops) -> tuple[dict[str, Any], WorkflowHandle[Any, Any]]:
    payment = await write(
        ops,
        "/v1/payments",
        {"amount": "50.00", "currency": "usd", "payment_method": "pm_card_visa", "capture": "automatic"},
    )
    assert payment["status"] == "requires_approval"
    found = await find_one(ops, 'BillingFlow="payment" AND BillingStatus="awaiting_approval"')
    return payment, ops.client.get_workflow_handle(found.id)


async def test_payment_waiting_for_approval_is_findable_readable_and_steerable(ops: Ops) -> None:
    payment = await write(
        ops,
        "/v1/payments",
        {"amount": "50.00", "currency": "usd", "payment_method": "pm_card_visa", "capture": "automatic"},
    )
    assert payment["status"] == "requires_approval"
    handle, found, summary, details, current = await read_run(
        ops, 'BillingFlow="payment" AND BillingStatus="awaiting_approval"'
    )
    assert found == {
        "BillingFlow": "payment",
        "BillingStatus": "awaiting_approval",
        "MerchantId": ops.merchant_id,
        "CustomerId": None,  # paid with a card token, no Stripe customer
        "AmountMinor": 5000,
        "Currency": "USD",
    }
    assert summary == "Charge 50.00 USD to pm_card_visa"
    assert payment["id"] in details and ops.merchant_id in details and "Approval**: needed" in details
    assert "Waiting for** a manager's approval" in current
    assert "create+confirm intent 50.00 USD" in await activity_summaries(handle)

    # the JSON the current details show, sent as the UI's Send Signal dialog would send it
    await send_as_ui(ops, handle.id, "approve", signal_examples(current)["approve"])
    await status_becomes(handle, "completed")
    assert (await ops.api.get(f"/v1/payments/{payment['id']}")).json()["data"]["status"] == "completed"
    assert await current_details(handle) == ""


# ----------------------------------------------------------------------------- refunds


async def test_refund_above_the_threshold_waits_for_approval_and_moves_on_with_the_shown_json(
    ops: Ops,
) -> None:
    customer = (await write(ops, "/v1/catalog/customers", {"email": "refund@example.com"}))["object_id"]
    payment = await write(
        ops,
        "/v1/payments",
        {"amount": "8.00", "currency": "usd", "payment_method": "pm_card_visa", "customer": customer},
    )
    assert payment["status"] == "completed"  # under the payment approval threshold
    refund = await write(ops, "/v1/refunds", {"payment_id": payment["id"], "amount": "6.00"})
    assert refund["status"] == "requires_approval"  # over the refund approval threshold

    handle, found, summary, details, current = await read_run(
        ops, 'BillingFlow="refund" AND BillingStatus="awaiting_approval"'
    )
    assert found == {
        "BillingFlow": "refund",
        "BillingStatus": "awaiting_approval",
        "MerchantId": ops.merchant_id,
        "CustomerId": customer,
        "AmountMinor": 600,
        "Currency": "USD",
    }
    assert summary == f"Refund 6.00 USD of {payment['id']}"
    assert refund["id"] in details and payment["id"] in details
    assert "Waiting for** a manager's approval of the refund" in current
    assert f"ledger: reserve refund on {payment['id']}" in await activity_summaries(handle)

    await send_as_ui(ops, handle.id, "approve", signal_examples(current)["approve"])
    assert (await status_becomes(handle, "succeeded"))["AmountMinor"] == 600
    state = await handle.query("state", result_type=RefundState)
    assert state.approval is not None and state.approval["decision"] == "approve"
    assert any(s.startswith("refund 6.00 USD of pi_") for s in await activity_summaries(handle))


# ----------------------------------------------------------------------------- quotes


async def test_quote_awaiting_approval_is_findable_readable_and_approved_with_the_shown_json(
    ops: Ops,
) -> None:
    product = (await write(ops, "/v1/catalog/products", {"name": "Audit"}))["object_id"]
    price = (
        await write(
            ops, "/v1/catalog/prices", {"product": product, "currency": "eur", "unit_amount": "1200.00"}
        )
    )["object_id"]
    user = f"user-{uuid.uuid4().hex[:6]}"
    quote = await write(ops, "/v1/quotes", {"user_id": user, "line_items": [{"price_id": price}]})

    handle, found, summary, details, current = await read_run(
        ops, 'BillingFlow="quote" AND BillingStatus="awaiting_approval"'
    )
    state = await handle.query("state", result_type=QuoteState)
    assert state.quote_id == quote["id"] and state.stripe_customer_id
    assert found == {
        "BillingFlow": "quote",
        "BillingStatus": "awaiting_approval",
        "MerchantId": ops.merchant_id,
        "CustomerId": state.stripe_customer_id,
        "AmountMinor": 120000,
        "Currency": "EUR",  # known only once Stripe priced the quote: upserted, not set at start
    }
    assert summary == f"Quote {quote['id']} for user {user}"
    assert price in details and user in details
    assert "Waiting for** a manager's approval" in current
    assert f"create quote for {state.stripe_customer_id}" in await activity_summaries(handle)

    await send_as_ui(ops, handle.id, "approve", signal_examples(current)["approve"])
    await status_becomes(handle, "open")
    current = await details_once_waiting(handle, "the customer's acceptance")
    assert "accept" in signal_examples(current), current
    await send_as_ui(ops, handle.id, "cancel", signal_examples(current)["cancel"])
    await status_becomes(handle, "canceled")


# ----------------------------------------------------------------------------- saved cards and subscriptions


async def test_save_card_waiting_for_3ds_rechecks_stripe_on_the_shown_signal(ops: Ops) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    saved = await write(
        ops, "/v1/payments/cards", {"payment_method_id": "pm_card_threeDSecure2Required", "user_id": user}
    )
    assert saved["status"] == "pending" and saved["redirect_url"]

    handle, found, summary, details, current = await read_run(
        ops, 'BillingFlow="save_card" AND BillingStatus="pending"'
    )
    state = await handle.query("state", result_type=SaveCardState)
    assert state.stripe_customer_id and state.setup_intent_id
    assert found == {
        "BillingFlow": "save_card",
        "BillingStatus": "pending",
        "MerchantId": ops.merchant_id,
        "CustomerId": state.stripe_customer_id,
        "AmountMinor": None,
        "Currency": None,
    }
    assert summary == f"Save card pm_card_threeDSecure2Required for user {user}"
    assert user in details and "pm_card_threeDSecure2Required" in details
    assert f"3-D Secure of {state.setup_intent_id}" in current
    assert f"set up pm_card_threeDSecure2Required for {state.stripe_customer_id}" in await activity_summaries(
        handle
    )

    # The customer authenticates; no webhook reaches this stack and the next poll is a minute
    # away, so only the operator's signal can make the run look again within the wait below.
    async with httpx.AsyncClient(base_url=ops.emulator_url) as emulator:
        done = await emulator.post(f"/_emulator/3ds/{state.setup_intent_id}/complete")
        assert done.status_code == 200, done.text
    await send_as_ui(ops, handle.id, "stripe_event", signal_examples(current)["stripe_event"])
    await status_becomes(handle, "succeeded")


async def test_subscription_waiting_for_renewal_is_paused_and_canceled_with_the_shown_json(ops: Ops) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    saved = await write(ops, "/v1/payments/cards", {"payment_method_id": "pm_card_visa", "user_id": user})
    assert saved["status"] == "succeeded", saved
    started = await write(
        ops,
        "/v1/subscriptions",
        {"user_id": user, "amount": "12.00", "currency": "usd", "saved_card_id": saved["card"]["id"]},
    )
    assert started["status"] == "active", started

    handle, found, summary, details, _ = await read_run(
        ops,
        f'BillingFlow="subscription" AND BillingStatus="active" AND CustomerId="{started["stripe_customer_id"]}"',
    )
    assert found == {
        "BillingFlow": "subscription",
        "BillingStatus": "active",
        "MerchantId": ops.merchant_id,
        "CustomerId": started["stripe_customer_id"],
        "AmountMinor": 1200,
        "Currency": "USD",
    }
    assert summary == f"Subscription of user {user} to 12.00 USD every 1 month"
    assert started["subscription_id"] in details and user in details
    current = await details_once_waiting(handle, f"renewal of period 2 ({started['stripe_subscription_id']})")
    summaries = await activity_summaries(handle)
    assert any(s.startswith(f"subscribe {started['stripe_customer_id']} to 12.00 USD") for s in summaries)

    examples = signal_examples(current)
    await send_as_ui(ops, handle.id, "pause", examples["pause"])
    await status_becomes(handle, "paused")
    current = await details_once_waiting(handle, "signal `resume`")
    await send_as_ui(ops, handle.id, "cancel", signal_examples(current)["cancel"])
    for _ in range(100):
        state = await handle.query("state", result_type=SubscriptionState)
        if state.cancel_at_period_end:
            break
        await asyncio.sleep(0.1)
    assert state.cancel_at_period_end and state.paused


# ----------------------------------------------------------------------------- the real UI


@pytest.mark.skipif(
    shutil.which("chromium") is None and os.environ.get("CI") != "true",
    reason="Debian's chromium is installed by `make test`",
)
async def test_temporal_ui_shows_the_waiting_payment(ops: Ops) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    _, handle = await _awaiting_approval(ops)
    query = quote('BillingStatus="awaiting_approval"')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(f"{ops.ui_url}/namespaces/default/workflows?query={query}")
        link = page.get_by_text(handle.id).first
        await link.wait_for(timeout=30_000)
        await page.screenshot(path=str(SCREENSHOTS / "awaiting-approval-list.png"))
        await link.click()
        # the UI keeps a run's summary and current details under its "User Metadata" tab
        await page.get_by_text("User Metadata").first.click()
        # summary, static details and current details with the signal JSON
        wanted = (
            "Charge 50.00 USD to pm_card_visa",
            "needed: above 10.00 USD",
            "Waiting for",
            "approve",
            '"by"',
        )
        text = ""
        for _ in range(60):
            # the UI renders summaries and details as markdown inside sandboxed frames
            texts = []
            for frame in page.frames:
                try:
                    texts.append(await frame.inner_text("body", timeout=1000))
                except PlaywrightError:
                    continue
            text = "\n".join(texts)
            if all(w in text for w in wanted):
                break
            await page.wait_for_timeout(500)
        assert all(w in text for w in wanted), text[:2000]
        await page.screenshot(path=str(SCREENSHOTS / "awaiting-approval-run.png"), full_page=True)
        await browser.close()
    await handle.signal("reject", {"by": "ops@example.com", "reason": "screenshot taken"})


# ----------------------------------------------------------------------------- the operator CLI


def billflow_cli(ops: Ops, *args: str) -> Result:  # typer's Result is click's
    """`billflow …` as an operator types it, pointed at this module's Temporal server."""
    get_settings.cache_clear()
    env = {
        "BILLFLOW_TEMPORAL_ADDRESS": ops.client.service_client.config.target_host,
        "BILLFLOW_STRIPE_API_BASE": ops.emulator_url,
        "COLUMNS": "300",  # rich wraps tables at the terminal width; keep ids on one line
    }
    try:
        return CliRunner().invoke(cli_app, list(args), env=env)
    finally:
        get_settings.cache_clear()


async def test_operator_cli_lists_shows_and_approves_a_waiting_payment(ops: Ops) -> None:
    payment, handle = await _awaiting_approval(ops)

    listed = await asyncio.to_thread(
        billflow_cli, ops, "runs", "list", "--status", "awaiting_approval", "--merchant", ops.merchant_id
    )
    assert listed.exit_code == 0, listed.output
    # the visibility query it used, ready to paste into the UI, then the one run it found
    assert f'query: BillingStatus="awaiting_approval" AND MerchantId="{ops.merchant_id}"' in listed.output
    assert handle.id in listed.output and "awaiting_approval" in listed.output

    shown = await asyncio.to_thread(billflow_cli, ops, "runs", "show", handle.id)
    assert shown.exit_code == 0, shown.output
    assert "summary: Charge 50.00 USD to pm_card_visa" in shown.output
    assert payment["id"] in shown.output  # key facts and the state query
    assert "a manager's approval" in shown.output and "approve" in shown.output  # what it waits for

    approved = await asyncio.to_thread(
        billflow_cli, ops, "approve", handle.id, "--by", "alice@example.com", "--note", "known customer"
    )
    assert approved.exit_code == 0, approved.output
    await status_becomes(handle, "completed")
    state = (await ops.api.get(f"/v1/payments/{payment['id']}")).json()["data"]
    assert state["status"] == "completed"


async def test_operator_cli_errors_are_one_line_and_non_zero(ops: Ops) -> None:
    missing = await asyncio.to_thread(
        billflow_cli, ops, "approve", f"payment/{ops.merchant_id}/nope", "--by", "alice"
    )
    assert missing.exit_code != 0
    assert "Traceback" not in missing.output
    assert missing.exception is None or isinstance(missing.exception, SystemExit)
    assert missing.output.count("error:") == 1

    bad_status = await asyncio.to_thread(billflow_cli, ops, "runs", "list", "--status", 'x" OR 1=1')
    assert bad_status.exit_code != 0 and "error:" in bad_status.output

    no_3ds = await asyncio.to_thread(billflow_cli, ops, "3ds", "complete", "pi_doesnotexist000")
    assert no_3ds.exit_code != 0 and no_3ds.output.count("error:") == 1
