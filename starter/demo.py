"""The demo `make demo` runs on the local stack: one run of every flow, then a table of results."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from billflow.config import Settings
from starter.client import connect
from starter.quotes import demo_quote
from workflows.hello import HelloInput, HelloWorkflow


async def payments_demo(settings: Settings) -> list[tuple[str, str, str, bool]]:
    """Payments over the HTTP API as a backend calls it: frictionless, 3-D Secure, decline, refund."""
    from billflow.ledger.db import Ledger
    from billflow.merchants import ensure_demo_merchant

    ledger = Ledger.from_url(settings.sqlalchemy_url)
    _, api_key = ensure_demo_merchant(ledger, settings)
    ledger.dispose()
    emulator = settings.stripe_api_base or f"http://127.0.0.1:{settings.emulator_port}"
    rows: list[tuple[str, str, str, bool]] = []
    async with (
        httpx.AsyncClient(
            base_url=f"http://{settings.api_host}:{settings.api_port}",
            headers={"X-API-Key": api_key},
            timeout=60,
        ) as api,
        httpx.AsyncClient(base_url=emulator, timeout=30) as emu,
    ):

        async def pay(label: str, pm: str, **extra: str) -> dict[str, Any]:
            body = {"amount": "50.00", "currency": "usd", "payment_method": pm, **extra}
            resp = await api.post("/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            data: dict[str, Any] = resp.json().get("data") or {"id": "-", "status": resp.text[:60]}
            return data

        paid = await pay("frictionless", "pm_card_visa")
        rows.append(("payment (visa)", paid["id"], paid["status"], paid["status"] == "completed"))
        pending = await pay("3ds", "pm_card_threeDSecure2Required", return_url="https://shop.example/back")
        if pending.get("payment_intent_id"):
            await emu.post(f"/_emulator/3ds/{pending['payment_intent_id']}/complete")
            await api.get(f"/v1/payments/{pending['id']}/return")  # the customer is back from 3-D Secure
            for _ in range(100):
                pending = (await api.get(f"/v1/payments/{pending['id']}")).json()["data"]
                if pending["status"] != "pending":
                    break
                await asyncio.sleep(0.2)
        rows.append(
            ("payment (3-D Secure)", pending["id"], pending["status"], pending["status"] == "completed")
        )
        declined = await pay("decline", "pm_card_visa_chargeDeclined")
        outcome = f"{declined['status']} ({declined.get('failure_code')})"
        rows.append(
            ("payment (declined)", declined["id"], outcome, declined.get("failure_code") == "generic_decline")
        )
        refund = await api.post(
            "/v1/refunds",
            json={"payment_id": paid["id"], "amount": "20.00"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        data = refund.json().get("data") or {"id": "-", "status": refund.text[:60]}
        rows.append(("refund 20.00 USD", data["id"], data["status"], data["status"] == "succeeded"))
    return rows


async def run_demo(settings: Settings, console: Console) -> int:
    """Run each demo flow; return a non-zero exit code if any did not reach its expected end."""
    client = await connect(settings)
    table = Table(title="billflow demo")
    for column in ("flow", "workflow id", "outcome", "ok"):
        table.add_column(column)
    failures = 0
    wf_id = f"hello/demo/{uuid.uuid4().hex[:8]}"
    result = await client.execute_workflow(
        HelloWorkflow.run, HelloInput(name="billflow"), id=wf_id, task_queue=settings.temporal_task_queue
    )
    ok = result.greeting == "Hello, billflow!"
    failures += not ok
    table.add_row("hello", wf_id, result.greeting, "yes" if ok else "NO")
    for flow, ident, outcome, passed in await payments_demo(settings):
        failures += not passed
        table.add_row(flow, ident, outcome, "yes" if passed else "NO")
    try:  # quote → approval → acceptance → invoice paid, through the HTTP API
        quote_id, outcome, ok = await demo_quote(settings)
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure as a row
        quote_id, outcome, ok = "-", f"failed: {exc}", False
    failures += not ok
    table.add_row("quote", quote_id, outcome, "yes" if ok else "NO")
    console.print(table)
    console.print(
        f"Inspect the runs in the Temporal UI: http://127.0.0.1:{settings.temporal_ui_port}/namespaces/"
        f"{settings.temporal_namespace}/workflows"
    )
    return 1 if failures else 0
