"""Operator commands: find runs, read them, and steer them (approve, reject, cancel, 3-D Secure)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from billflow import search_attributes as sa
from billflow.config import get_settings
from billflow.signals import APPROVE, CANCEL, REJECT, STATE_QUERY, Decision
from billflow.visibility import build_query
from starter.cli import app, console, fail, run_async
from starter.client import connect

runs_app = typer.Typer(help="Find and inspect billflow runs.", no_args_is_help=True)
threeds_app = typer.Typer(
    help="Complete or fail a 3-D Secure challenge on the Stripe emulator.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
app.add_typer(threeds_app, name="3ds")


async def _client() -> Client:
    return await connect(get_settings())


@runs_app.command("list")
def runs_list(
    flow: Annotated[str | None, typer.Option(help="payment, subscription, quote, refund, …")] = None,
    status: Annotated[str | None, typer.Option(help="e.g. awaiting_approval")] = None,
    merchant: Annotated[str | None, typer.Option(help="merchant id")] = None,
    customer: Annotated[str | None, typer.Option(help="Stripe customer id")] = None,
    running: Annotated[bool, typer.Option(help="only runs still open")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List runs by search attributes, printing the visibility query used (paste it into the UI)."""
    try:
        query = build_query(
            flow=flow, status=status, merchant=merchant, customer=customer, running_only=running
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"query: {query}", highlight=False)

    async def _list() -> list[list[str]]:
        client = await _client()
        rows = []
        async for wf in client.list_workflows(query, limit=limit):
            attrs = wf.typed_search_attributes
            amount = attrs.get(sa.AMOUNT_MINOR)
            rows.append(
                [
                    wf.id,
                    attrs.get(sa.BILLING_FLOW) or "",
                    attrs.get(sa.BILLING_STATUS) or "",
                    attrs.get(sa.MERCHANT_ID) or "",
                    "" if amount is None else f"{amount} {attrs.get(sa.CURRENCY) or ''}",
                    wf.status.name if wf.status else "",
                    f"{wf.start_time:%Y-%m-%d %H:%M:%S}",
                ]
            )
        return rows

    try:
        rows = run_async(_list())
    except RPCError as exc:
        raise fail(f"Temporal refused the query: {exc.message}") from None
    except RuntimeError as exc:
        raise fail(f"cannot reach Temporal: {exc}") from None
    table = Table()
    for column in ("workflow id", "flow", "status", "merchant", "amount (minor)", "execution", "started"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@runs_app.command("show")
def runs_show(workflow_id: str, events: Annotated[int, typer.Option(min=0, max=200)] = 15) -> None:
    """Describe a run: summary, key facts, what it waits for, its `state` query and recent events."""

    async def _show() -> tuple[Any, Any, str, list[str]]:
        client = await _client()
        handle = client.get_workflow_handle(workflow_id)
        desc = await handle.describe()
        state: Any = None
        current = ""
        if desc.status == WorkflowExecutionStatus.RUNNING:
            try:
                state = await handle.query(STATE_QUERY)
                meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
                current = meta.current_details
            except RPCError:
                state = None
        history = [
            f"{e.event_id:>4} {e.WhichOneof('attributes') or ''}" async for e in handle.fetch_history_events()
        ]
        return desc, state, current, history[-events:] if events else []

    try:
        desc, state, current, history = run_async(_show())
    except RPCError as exc:
        raise fail(f"{workflow_id}: {exc.message}") from None
    console.print(
        f"[bold]{workflow_id}[/bold] ({desc.workflow_type}) {desc.status.name if desc.status else ''}"
    )
    summary = run_async(desc.static_summary())
    if summary:
        console.print(f"summary: {summary}", highlight=False)
    details = run_async(desc.static_details())
    if details:
        console.print(details, highlight=False, markup=False)
    if current:
        # What it waits for and the signal that ends it, as the UI shows it.
        console.print("now:", highlight=False)
        console.print(current, highlight=False, markup=False)
    if state is not None:
        console.print_json(json.dumps(state, default=str))
    for line in history:
        console.print(line, highlight=False)


def _signal(workflow_id: str, name: str, decision: Decision) -> None:
    async def _send() -> None:
        client = await _client()
        await client.get_workflow_handle(workflow_id).signal(name, decision)

    try:
        run_async(_send())
    except RPCError as exc:
        raise fail(f"cannot signal {workflow_id}: {exc.message}") from None
    console.print(f"sent {name} to {workflow_id} as {decision.by}")


@app.command("approve")
def approve(
    workflow_id: str,
    by: Annotated[str, typer.Option("--by", help="who approves")],
    note: Annotated[str, typer.Option("--note", help="why")] = "",
) -> None:
    """Approve a payment, refund or quote waiting for a person."""
    _signal(workflow_id, APPROVE, Decision(by=by, reason=note))


@app.command("reject")
def reject(
    workflow_id: str,
    by: Annotated[str, typer.Option("--by", help="who rejects")],
    note: Annotated[str, typer.Option("--note", help="why")] = "",
) -> None:
    """Reject a payment, refund or quote waiting for a person."""
    _signal(workflow_id, REJECT, Decision(by=by, reason=note))


@app.command("cancel")
def cancel(
    workflow_id: str,
    by: Annotated[str, typer.Option("--by", help="who cancels")],
    note: Annotated[str, typer.Option("--note", help="why")] = "",
) -> None:
    """Cancel a flow that is still cancellable (a payment before capture, a quote before acceptance, …)."""
    _signal(workflow_id, CANCEL, Decision(by=by, reason=note))


def _threeds(intent_id: str, outcome: str) -> None:
    settings = get_settings()
    base = settings.stripe_api_base or f"http://127.0.0.1:{settings.emulator_port}"
    try:
        response = httpx.post(f"{base}/_emulator/3ds/{intent_id}/{outcome}", timeout=10)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the Stripe emulator at {base}: {exc}") from None
    if response.status_code >= 400:
        raise fail(f"emulator answered {response.status_code}: {response.text[:200]}")
    console.print(f"3-D Secure {outcome} for {intent_id}")


@threeds_app.command("complete")
def threeds_complete(intent_id: str) -> None:
    """Pass the challenge of a PaymentIntent or SetupIntent waiting in requires_action."""
    _threeds(intent_id, "complete")


@threeds_app.command("fail")
def threeds_fail(intent_id: str) -> None:
    """Fail the challenge of a PaymentIntent or SetupIntent waiting in requires_action."""
    _threeds(intent_id, "fail")


@app.command("codec-server")
def codec_server(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8081,
    host: Annotated[str, typer.Option(help="interface to bind (0.0.0.0 in a container)")] = "127.0.0.1",
    ui_origin: Annotated[list[str] | None, typer.Option(help="allowed UI origins")] = None,
) -> None:
    """Serve /decode for the Temporal UI's codec setting (needs BILLFLOW_PAYLOAD_KEY)."""
    import uvicorn

    from starter.codec_server import create_codec_app

    settings = get_settings()
    if settings.payload_key is None:
        raise fail("BILLFLOW_PAYLOAD_KEY is not set: there is nothing to decode")
    origins = ui_origin or [
        f"http://127.0.0.1:{settings.temporal_ui_port}",
        f"http://localhost:{settings.temporal_ui_port}",
    ]
    uvicorn.run(create_codec_app(settings.payload_key.get_secret_value(), origins), host=host, port=port)
