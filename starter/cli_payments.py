"""`billflow payments …`: look at and steer payments from the terminal (the same helpers as the API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from billflow.config import get_settings
from billflow.ledger.db import Ledger
from billflow.money import format_money
from billflow.payments import PaymentState
from billflow.signals import Decision
from starter import payments as svc
from starter.client import connect

T = TypeVar("T")

payments_app = typer.Typer(
    help="Payments: show, approve, reject, capture, cancel, list.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

MerchantOpt = Annotated[str, typer.Option("--merchant", "-m", help="The merchant id (e.g. mer_demo).")]
ByOpt = Annotated[str, typer.Option("--by", help="Who decides (recorded with the decision).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why.")]


def _run(work: Callable[[Ledger], Awaitable[T]]) -> T:
    """Run `work` with a ledger; a refused request becomes one red line and exit code 1."""
    ledger = Ledger.from_url(get_settings().sqlalchemy_url)
    try:

        async def main() -> T:
            return await work(ledger)

        return asyncio.run(main())
    except svc.PaymentRequestError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        ledger.dispose()


def _show(state: PaymentState) -> None:
    table = Table(show_header=False)
    table.add_row("payment", state.payment_id)
    table.add_row("status", state.status.value)
    table.add_row("amount", format_money(state.amount_minor, state.currency))
    table.add_row("captured", format_money(state.amount_captured_minor, state.currency))
    table.add_row("intent", state.payment_intent_id or "-")
    if state.failure_code:
        table.add_row("failure", f"{state.failure_code}: {state.failure_reason}")
    if state.waiting:
        until = f" until {state.waiting.until:%Y-%m-%d %H:%M} UTC" if state.waiting.until else ""
        table.add_row("waiting for", f"{state.waiting.what}{until} ({', '.join(state.waiting.ends_with)})")
    console.print(table)


@payments_app.command("show")
def show(payment_id: str, merchant: MerchantOpt) -> None:
    """The payment's live state."""
    settings = get_settings()
    _show(_run(lambda ledger: svc.payment_state(lambda: connect(settings), ledger, merchant, payment_id)))


def _decide(action: str, payment_id: str, merchant: str, by: str, reason: str) -> None:
    settings = get_settings()
    steer = {"approve": svc.approve_payment, "reject": svc.reject_payment, "cancel": svc.cancel_payment}[
        action
    ]

    async def work(ledger: Ledger) -> None:
        await steer(lambda: connect(settings), ledger, merchant, payment_id, Decision(by=by, reason=reason))

    _run(work)
    console.print(f"{action} sent to {payment_id}")


@payments_app.command("approve")
def approve(payment_id: str, merchant: MerchantOpt, by: ByOpt, reason: ReasonOpt = "") -> None:
    """Approve a payment waiting for approval."""
    _decide("approve", payment_id, merchant, by, reason)


@payments_app.command("reject")
def reject(payment_id: str, merchant: MerchantOpt, by: ByOpt, reason: ReasonOpt = "") -> None:
    """Reject a payment waiting for approval (its authorisation is released)."""
    _decide("reject", payment_id, merchant, by, reason)


@payments_app.command("cancel")
def cancel(payment_id: str, merchant: MerchantOpt, by: ByOpt, reason: ReasonOpt = "") -> None:
    """Cancel a payment that is not final yet."""
    _decide("cancel", payment_id, merchant, by, reason)


@payments_app.command("capture")
def capture(
    payment_id: str,
    merchant: MerchantOpt,
    amount: Annotated[str | None, typer.Option(help="Major units, e.g. 20.00; default: everything.")] = None,
) -> None:
    """Capture all or part of a manual-capture payment."""
    settings = get_settings()
    value = Decimal(amount) if amount is not None else None
    _show(
        _run(
            lambda ledger: svc.capture_payment(lambda: connect(settings), ledger, merchant, payment_id, value)
        )
    )


@payments_app.command("list")
def list_cmd(
    merchant: MerchantOpt,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The newest payments from the ledger."""

    async def work(ledger: Ledger) -> list[list[str]]:
        rows, _ = svc.list_payments(ledger, merchant, svc.PaymentFilters(status=status), None, limit)
        return [
            [
                r.id,
                r.status,
                format_money(r.amount_minor, r.currency),
                r.failure_code or "",
                f"{r.created_at:%F %T}",
            ]
            for r in rows
        ]

    table = Table("payment", "status", "amount", "failure", "created")
    for row in _run(work):
        table.add_row(*row)
    console.print(table)
