"""The demo `make demo` runs on the local stack: one run of every flow, then a table of results."""

from __future__ import annotations

import uuid

from rich.console import Console
from rich.table import Table

from billflow.config import Settings
from starter.client import connect
from starter.quotes import demo_quote
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
