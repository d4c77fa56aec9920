"""What operators see: a payment waiting for approval is found by its search attributes, reads as a
sentence in the real Temporal UI (checked in headless Chromium), and moves on when the documented
signal JSON is sent, exactly as from the UI's Send Signal dialog."""

from __future__ import annotations

import asyncio
import os
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
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from bench.harness.ports import free_port
from billflow import search_attributes as sa
from billflow.binaries import temporal_cli
from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger import Merchant
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant
from billflow.search_attributes import ALL
from starter.api import create_app
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


@pytest.fixture(scope="module")
async def ops(sqlite_url: str, emulator_url: str) -> AsyncIterator[Ops]:
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL,
        ui=True,
        ui_port=ui_port,
        dev_server_log_level="error",
    )
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
        yield Ops(env.client, api, f"http://127.0.0.1:{ui_port}", merchant.id)
    server.should_exit = True
    await serving
    ledger.dispose()
    await env.shutdown()


async def _awaiting_approval(ops: Ops) -> tuple[dict[str, Any], WorkflowHandle[Any, Any]]:
    created = await ops.api.post(
        "/v1/payments",
        json={"amount": "50.00", "currency": "usd", "payment_method": "pm_card_visa", "capture": "automatic"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status_code == 200, created.text
    payment = created.json()["data"]
    assert payment["status"] == "requires_approval"
    query = f'BillingStatus="awaiting_approval" AND MerchantId="{ops.merchant_id}"'
    for _ in range(100):  # visibility is eventually consistent
        found = [wf async for wf in ops.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert len(found) == 1, found
    return payment, ops.client.get_workflow_handle(found[0].id)


async def test_payment_waiting_for_approval_is_findable_readable_and_steerable(ops: Ops) -> None:
    payment, handle = await _awaiting_approval(ops)
    desc = await handle.describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(sa.BILLING_FLOW) == "payment"
    assert attrs.get(sa.AMOUNT_MINOR) == 5000 and attrs.get(sa.CURRENCY) == "USD"
    assert (await desc.static_summary()) == "Charge 50.00 USD to pm_card_visa"
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    current = meta.current_details
    assert "approve" in current and '"by"' in current, current

    # the JSON the current details show, sent as the UI's Send Signal dialog would send it
    await handle.signal("approve", {"by": "ops@example.com", "reason": "known customer"})
    for _ in range(200):
        status = (await ops.api.get(f"/v1/payments/{payment['id']}")).json()["data"]["status"]
        if status == "completed":
            break
        await asyncio.sleep(0.1)
    assert status == "completed"


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
        wanted = ("Charge 50.00 USD to pm_card_visa", "Waiting for", "approve", '"by"')
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
