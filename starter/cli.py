"""The `billflow` command: local stack, worker, migrations, Temporal setup and operator tools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from billflow.config import Settings, get_settings
from starter.cli_catalog import catalog_app
from starter.cli_merchant import ensure_demo, merchant_app
from starter.cli_payments import payments_app

T = TypeVar("T")

app = typer.Typer(
    help="billflow: Stripe billing as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Ledger database.", no_args_is_help=True)
temporal_app = typer.Typer(help="Temporal cluster set-up.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(temporal_app, name="temporal")
app.add_typer(merchant_app, name="merchant")
app.add_typer(catalog_app, name="catalog")
app.add_typer(payments_app, name="payments")

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one readable error line and return the Exit to raise."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def run_async(awaitable: Awaitable[T]) -> T:
    async def _run() -> T:
        return await awaitable

    return asyncio.run(_run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the ledger migrations to BILLFLOW_DATABASE_URL."""
    from billflow.migrate import upgrade

    settings = get_settings()
    try:
        upgrade(settings.sqlalchemy_url)
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one line
        raise fail(f"migration failed on {settings.database_url}: {exc}") from None
    console.print(f"ledger at {settings.database_url} is up to date")


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register billflow's search attributes on the configured cluster (idempotent)."""
    from billflow.temporal_setup import register_search_attributes
    from starter.client import connect
    from starter.schedules import ensure_reconcile_schedule

    settings = get_settings()

    async def _setup() -> list[str]:
        client = await connect(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        await ensure_reconcile_schedule(client, settings.temporal_task_queue)
        return added

    try:
        added = run_async(_setup())
    except Exception as exc:  # noqa: BLE001
        raise fail(f"cannot register search attributes on {settings.temporal_address}: {exc}") from None
    console.print(
        f"search attributes and reconciliation schedule ready on {settings.temporal_namespace} (added: {', '.join(added) or 'none'})"
    )


@app.command("worker")
def worker_cmd() -> None:
    """Run a billflow worker until SIGTERM."""
    import worker

    worker.main()


async def _after_start(settings: Settings) -> None:
    from starter.client import connect
    from starter.schedules import ensure_reconcile_schedule

    await ensure_reconcile_schedule(await connect(settings), settings.temporal_task_queue)


@app.command(
    "emulator",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def emulator(ctx: typer.Context) -> None:
    """Run the Stripe emulator alone (same options as `python -m stripe_emulator --help`)."""
    from stripe_emulator.__main__ import main as emulator_main

    emulator_main(list(ctx.args))


@app.command("dev")
def dev(
    demo: Annotated[bool, typer.Option(help="Run the demo of every flow once the stack is up.")] = False,
    exit_after_demo: Annotated[bool, typer.Option(help="Stop the stack when the demo ends.")] = False,
) -> None:
    """Start the local stack (Temporal + UI, Stripe emulator, API, worker); Ctrl-C stops it."""
    from billflow.migrate import upgrade
    from starter.devstack import DevStack, StackError

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    ensure_demo(settings)
    stack = DevStack(settings)
    try:
        stack.start()
    except (StackError, FileNotFoundError) as exc:
        stack.stop()
        raise fail(str(exc)) from None
    run_async(_after_start(settings))
    for name, address in stack.addresses():
        console.print(f"{name:<16}{address}", highlight=False)
    console.print("logs in .billflow/logs/ - Ctrl-C stops everything")
    code = 0
    try:
        if demo:
            from starter.demo import run_demo

            code = run_async(run_demo(settings, console))
            if exit_after_demo:
                return
        while (dead := stack.failed()) is None:
            time.sleep(0.5)
        raise fail(
            f"{dead.name} stopped unexpectedly (see .billflow/logs/{dead.name}.log); stopping the stack"
        )
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()
    if code:
        raise typer.Exit(code)


# Sub-command modules register themselves on `app`; importing them here wires them in.
from starter import cli_reconcile, cli_runs  # noqa: E402, F401

if __name__ == "__main__":
    app()
