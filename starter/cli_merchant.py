"""`billflow merchant …`: create merchants and manage their API keys from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from billflow.config import Settings, get_settings
from billflow.ledger.db import Ledger
from billflow.merchants import (
    MerchantError,
    create_api_key,
    create_merchant,
    ensure_demo_merchant,
    list_api_keys,
    list_merchants,
    revoke_api_key,
)
from billflow.security import ALL_SCOPES

merchant_app = typer.Typer(help="Merchants and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="A merchant's API keys.", no_args_is_help=True)
merchant_app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)

ScopesOpt = Annotated[
    list[str] | None,
    typer.Option("--scope", help=f"Repeat for each scope (default: all of {', '.join(ALL_SCOPES)})."),
]


def _ledger() -> Ledger:
    return Ledger.from_url(get_settings().sqlalchemy_url)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@merchant_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The merchant's display name.")], scope: ScopesOpt = None
) -> None:
    """Create a merchant and print its first API key (shown only this once)."""
    ledger = _ledger()
    try:
        merchant, key = create_merchant(ledger, name, scope)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        ledger.dispose()
    console.print(f"merchant {merchant.id} ({merchant.name}) created")
    console.print(
        f"API key (store it now, it is not shown again): {key.key}", highlight=False, soft_wrap=True
    )


@merchant_app.command("list")
def list_cmd() -> None:
    """Every merchant."""
    ledger = _ledger()
    try:
        table = Table("id", "name", "stripe account", "webhook url")
        for m in list_merchants(ledger):
            table.add_row(m.id, m.name, m.stripe_account_id or "-", m.webhook_url or "-")
    finally:
        ledger.dispose()
    console.print(table)


@keys_app.command("list")
def keys_list(merchant_id: str) -> None:
    """A merchant's keys (prefixes and scopes only)."""
    ledger = _ledger()
    try:
        table = Table("id", "name", "prefix", "scopes", "revoked")
        for k in list_api_keys(ledger, merchant_id):
            table.add_row(k.id, k.name, k.prefix, " ".join(k.scopes), str(k.revoked_at or "-"))
    finally:
        ledger.dispose()
    console.print(table)


@keys_app.command("create")
def keys_create(
    merchant_id: str,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    scope: ScopesOpt = None,
) -> None:
    """Create a key and print it once."""
    ledger = _ledger()
    try:
        key = create_api_key(ledger, merchant_id, name, scope)
    except (MerchantError, ValueError) as exc:
        raise _fail(str(exc)) from None
    finally:
        ledger.dispose()
    console.print(f"key {key.id} ({', '.join(key.scopes)})")
    console.print(
        f"API key (store it now, it is not shown again): {key.key}", highlight=False, soft_wrap=True
    )


@keys_app.command("revoke")
def keys_revoke(merchant_id: str, key_id: str) -> None:
    """Revoke a key; requests with it are refused from now on."""
    ledger = _ledger()
    try:
        view = revoke_api_key(ledger, merchant_id, key_id)
    finally:
        ledger.dispose()
    if view is None:
        raise _fail(f"merchant {merchant_id} has no key {key_id}")
    console.print(f"key {key_id} revoked at {view.revoked_at}")


def ensure_demo(settings: Settings) -> None:
    """Create the demo merchant (`billflow dev`): fixed dev API key, the configured Stripe key."""
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    try:
        merchant_id, _ = ensure_demo_merchant(ledger, settings)
    except MerchantError as exc:
        err.print(f"no demo merchant: {exc}", highlight=False)
        return
    finally:
        ledger.dispose()
    console.print(
        f"demo merchant {merchant_id}: send X-API-Key = BILLFLOW_DEMO_API_KEY (dev default built in)"
    )
