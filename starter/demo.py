"""The demo `make demo` runs on the local stack: one run of every flow, then a table of results."""

from __future__ import annotations

import uuid

from rich.console import Console
from rich.table import Table

from billflow.config import Settings
from billflow.merchants import DEMO_MERCHANT_ID
from starter.client import connect
from starter.subscriptions import demo_subscription
from workflows.hello import HelloInput, HelloWorkflow


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
    merchant_ok, merchant_outcome = await demo_merchant_api(settings)
    failures += not merchant_ok
    table.add_row("merchant API", "-", merchant_outcome, "yes" if merchant_ok else "NO")
    sub_wid, sub_outcome, sub_ok = await demo_subscription(
        client, DEMO_MERCHANT_ID, settings.temporal_task_queue
    )
    failures += not sub_ok
    table.add_row("saved card + subscription", sub_wid, sub_outcome, "yes" if sub_ok else "NO")
    console.print(table)
    console.print(
        f"Inspect the runs in the Temporal UI: http://127.0.0.1:{settings.temporal_ui_port}/namespaces/"
        f"{settings.temporal_namespace}/workflows"
    )
    return 1 if failures else 0


async def demo_merchant_api(settings: Settings) -> tuple[bool, str]:
    """The demo merchant answers over HTTP with its fixed dev API key."""
    import httpx

    url = f"http://{settings.api_host}:{settings.api_port}/v1/merchant"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.get(url, headers={"X-API-Key": settings.demo_api_key.get_secret_value()})
    except httpx.HTTPError as exc:
        return False, f"API unreachable: {exc}"
    data = (resp.json().get("data") or {}) if resp.status_code == 200 else {}
    if not isinstance(data, dict):
        data = {}
    return data.get("id") == "mer_demo", f"GET /v1/merchant -> {resp.status_code} {data.get('name', '')}"
