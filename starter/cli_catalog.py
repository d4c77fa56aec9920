"""`billflow catalog …`: the Stripe catalogue and connector operations from the terminal, via the API.

The CLI calls billflow's HTTP API with your API key (`--api-key` or `BILLFLOW_API_KEY`), so it gets
the same auth, validation, envelope and errors; every write runs as a StripeWriteWorkflow whose id
comes from the Idempotency-Key (`--key`, default: a fresh one), so re-running a command with the
same `--key` never writes twice.

    billflow catalog account
    billflow catalog create products name="Gold plan"
    billflow catalog create prices product=prod_123 currency=usd unit_amount=9.99 --json '{"recurring": {"interval": "month"}}'
    billflow catalog list prices product=prod_123 --limit 5
    billflow catalog get customers cus_123
    billflow catalog action payment_intents pi_123 capture amount=10.00 currency=usd
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from billflow.config import get_settings

catalog_app = typer.Typer(
    help="Stripe catalogue and connector operations (through the API).", no_args_is_help=True
)

console = Console()
err = Console(stderr=True)

READABLE = ("customers", "products", "prices", "payment_links", "charges")
CREATABLE = ("customers", "products", "prices", "payment_links", "refunds")
DELETABLE = ("customers", "products")
ACTIONS = {
    "payment_intents": ("confirm", "capture", "cancel"),
    "payment_methods": ("attach", "detach"),
    "customers": ("update",),
}

ApiKeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="BILLFLOW_API_KEY", help="Your billflow API key.")
]
ApiUrlOpt = Annotated[
    str | None, typer.Option("--api-url", help="billflow API (default: from the settings).")
]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Idempotency-Key of a write (default: a new one).")]
JsonOpt = Annotated[str | None, typer.Option("--json", help="Extra JSON fields merged into the body.")]
FieldsArg = Annotated[list[str] | None, typer.Argument(help="field=value pairs")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _fields(pairs: list[str] | None, extra: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise _fail(f"expected field=value, got {pair!r}")
        body[name] = value
    if extra:
        try:
            parsed = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise _fail(f"--json is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _fail("--json must be a JSON object")
        body.update(parsed)
    return body


def _choose(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise _fail(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def call(
    method: str,
    path: str,
    api_key: str | None,
    api_url: str | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    key: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Any:
    """One API call; prints the API's error (code, message, field) and exits 1 on failure."""
    if not api_key:
        raise _fail("give --api-key or set BILLFLOW_API_KEY")
    settings = get_settings()
    base = api_url or os.environ.get("BILLFLOW_API_URL") or f"http://{settings.api_host}:{settings.api_port}"
    headers = {"X-API-Key": api_key}
    if method != "GET":
        headers["Idempotency-Key"] = key or f"cli-{uuid.uuid4().hex}"
    try:
        with httpx.Client(base_url=base, timeout=60, transport=transport) as client:
            response = client.request(method, path, json=body, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the billflow API at {base}: {exc}") from None
    try:
        payload = response.json()
    except ValueError:
        raise _fail(f"{response.status_code} from the API: {response.text[:200]}") from None
    if not payload.get("success"):
        error = payload.get("error") or {}
        field = f" ({error['field']})" if error.get("field") else ""
        raise _fail(f"{response.status_code} {error.get('code')}: {error.get('message')}{field}")
    return payload["data"]


def _show(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


@catalog_app.command("account")
def account(api_key: ApiKeyOpt = None, api_url: ApiUrlOpt = None) -> None:
    """Retrieve the Stripe account: the "test connection" check."""
    _show(call("GET", "/v1/catalog/account", api_key, api_url))


@catalog_app.command("list")
def list_(
    resource: Annotated[str, typer.Argument(help=", ".join(READABLE))],
    filters: FieldsArg = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    starting_after: Annotated[str | None, typer.Option(help="Last id of the previous page.")] = None,
    api_key: ApiKeyOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """List a resource (filters as field=value, e.g. email=… or product=…)."""
    params = {**_fields(filters, None), "limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    _show(
        call("GET", f"/v1/catalog/{_choose(resource, READABLE, 'resource')}", api_key, api_url, params=params)
    )


@catalog_app.command("get")
def get(
    resource: Annotated[str, typer.Argument(help=", ".join(READABLE))],
    object_id: Annotated[str, typer.Argument(help="The Stripe id.")],
    api_key: ApiKeyOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """Retrieve one object."""
    _show(call("GET", f"/v1/catalog/{_choose(resource, READABLE, 'resource')}/{object_id}", api_key, api_url))


@catalog_app.command("create")
def create(
    resource: Annotated[str, typer.Argument(help=", ".join(CREATABLE))],
    fields: FieldsArg = None,
    extra: JsonOpt = None,
    key: KeyOpt = None,
    api_key: ApiKeyOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """Create an object (amounts in major units: unit_amount=9.99)."""
    path = f"/v1/catalog/{_choose(resource, CREATABLE, 'resource')}"
    _show(call("POST", path, api_key, api_url, body=_fields(fields, extra), key=key))


@catalog_app.command("delete")
def delete(
    resource: Annotated[str, typer.Argument(help=", ".join(DELETABLE))],
    object_id: Annotated[str, typer.Argument(help="The Stripe id.")],
    key: KeyOpt = None,
    api_key: ApiKeyOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """Delete a customer or a product."""
    path = f"/v1/catalog/{_choose(resource, DELETABLE, 'resource')}/{object_id}"
    _show(call("DELETE", path, api_key, api_url, key=key))


@catalog_app.command("action")
def action(
    resource: Annotated[str, typer.Argument(help=", ".join(ACTIONS))],
    object_id: Annotated[str, typer.Argument(help="The Stripe id.")],
    verb: Annotated[str, typer.Argument(help="confirm|capture|cancel, attach|detach, update")],
    fields: FieldsArg = None,
    extra: JsonOpt = None,
    key: KeyOpt = None,
    api_key: ApiKeyOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """A direct action: capture a payment intent, attach a card, update a customer…"""
    verbs = ACTIONS.get(_choose(resource, tuple(ACTIONS), "resource"), ())
    _choose(verb, verbs, f"action on {resource}")
    path = f"/v1/catalog/{resource}/{object_id}" + ("" if verb == "update" else f"/{verb}")
    _show(call("POST", path, api_key, api_url, body=_fields(fields, extra), key=key))
