"""Typed helpers to start and steer quote flows and catalogue writes (used by the API and the CLI)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

from billflow.catalog import STRIPE_WRITE_FLOW, StripeWriteInput, StripeWriteResult
from billflow.config import Settings
from billflow.idempotency import workflow_id
from billflow.money import format_money
from billflow.quotes import QUOTE_FLOW, QuoteInput, QuoteLine, QuoteState, quote_public_id
from billflow.signals import STATE_QUERY
from workflows.common import start_attributes, static_details
from workflows.quote import QuoteWorkflow
from workflows.stripe_write import StripeWriteWorkflow

# ApplicationError types from activities/stripe_errors.py -> (HTTP status, error code).
STRIPE_ERROR_HTTP: dict[str, tuple[int, str]] = {
    "ResourceMissing": (404, "not_found"),
    "InvalidRequest": (400, "stripe_invalid_request"),
    "CardDeclined": (402, "card_declined"),
    "AuthenticationRequired": (402, "authentication_required"),
    "IdempotencyMismatch": (409, "idempotency_conflict"),
    "MerchantNotConfigured": (409, "merchant_not_configured"),
    "StripeAuthentication": (502, "stripe_credentials_rejected"),
    "StripePermission": (502, "stripe_permission_denied"),
}


class StripeRequestError(Exception):
    """A Stripe failure as the caller should see it: HTTP status, stable code, Stripe's message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def stripe_request_error(err: ApplicationError) -> StripeRequestError:
    status, code = STRIPE_ERROR_HTTP.get(err.type or "", (502, "stripe_unavailable"))
    details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
    message = str(details.get("message") or err.message)
    return StripeRequestError(status, code, message, details.get("param"))


def quote_workflow_id(merchant_id: str, idempotency_key: str) -> str:
    return workflow_id(QUOTE_FLOW, merchant_id, idempotency_key)


def _price_text(line: QuoteLine) -> str:
    """One quote line for the run's details: its price id, or the inline price and product."""
    inline = line.price_data
    if inline is None:
        return line.price_id or "?"
    return f"{format_money(inline.unit_amount_minor, inline.currency)} ({inline.product})"


async def start_quote(client: Client, task_queue: str, wid: str, data: QuoteInput) -> None:
    """Start the quote flow; the same workflow id twice finds the running flow (never a second one)."""
    total = sum(
        (line.price_data.unit_amount_minor * line.quantity) for line in data.line_items if line.price_data
    )
    currency = next((line.price_data.currency for line in data.line_items if line.price_data), None)
    who = data.customer_id or f"user {data.user_id}"
    summary = f"Quote {quote_public_id(wid)} for {who}"
    if total and currency:
        summary += f" ({format_money(total, currency)} in inline prices)"
    lines = [f"{line.quantity} × {_price_text(line)}" for line in data.line_items]
    details = static_details(
        ("Quote", quote_public_id(wid)),
        ("Merchant", data.merchant_id),
        ("Customer", data.customer_id),
        ("User", data.user_id),
        ("Lines", "; ".join(lines)),
        ("Expires", f"{data.expires_in_days} days after it is created"),
        ("Collection", data.collection_method),
        ("Description", data.description),
    )
    await client.start_workflow(
        QuoteWorkflow.run,
        data,
        id=wid,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=start_attributes(
            QUOTE_FLOW, "creating", data.merchant_id, customer_id=data.customer_id, currency=currency
        ),
        static_summary=summary,
        static_details=details,
    )


async def quote_state(client: Client, wid: str) -> QuoteState:
    """The flow's live state (the `state` query); works on finished flows too."""
    state: QuoteState = await client.get_workflow_handle(wid).query(STATE_QUERY, result_type=QuoteState)
    return state


async def signal_quote(client: Client, wid: str, signal: str, payload: Any) -> None:
    await client.get_workflow_handle(wid).signal(signal, payload)


async def run_stripe_write(
    client: Client, task_queue: str, idempotency_key: str, data: StripeWriteInput, wait_seconds: float = 20
) -> StripeWriteResult:
    """Run one catalogue write; a repeated key returns the first run's result.

    Waits up to `wait_seconds` (workers down or Stripe retrying): after that the result says
    `status="running"` with the workflow id, and the same request later returns the outcome.
    Raises StripeRequestError for a Stripe refusal (unknown id, invalid request, decline).
    """
    wid = workflow_id(STRIPE_WRITE_FLOW, data.merchant_id, idempotency_key)
    try:
        handle = await client.start_workflow(
            StripeWriteWorkflow.run,
            data,
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=start_attributes(STRIPE_WRITE_FLOW, "running", data.merchant_id),
            static_summary=data.summary(),
            static_details=static_details(
                ("Operation", data.operation),
                ("Target", data.target_id),
                ("Merchant", data.merchant_id),
                ("Idempotency-Key", idempotency_key),
            ),
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(StripeWriteWorkflow.run, wid)
    try:
        result = await asyncio.wait_for(handle.result(), wait_seconds)
    except TimeoutError:
        return StripeWriteResult(operation=data.operation, object_id=None, status="running", workflow_id=wid)
    except WorkflowFailureError as exc:
        cause = exc.cause
        if isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError):
            raise stripe_request_error(cause.cause) from None
        raise
    result.workflow_id = wid
    return result


async def demo_quote(settings: Settings) -> tuple[str, str, bool]:
    """The demo's quote: a card customer, a product, a quote approved, accepted, invoiced and paid.

    Runs through the HTTP API with the demo merchant's key; returns (quote id, outcome, ok).
    """
    base = f"http://{settings.api_host}:{settings.api_port}"
    headers = {"X-API-Key": settings.demo_api_key.get_secret_value()}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def post(path: str, body: dict[str, Any]) -> Any:
            response = await client.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            response.raise_for_status()
            return response.json()["data"]

        async def status(quote_id: str, wanted: str) -> str:
            current = ""
            for _ in range(300):
                current = (await client.get(f"/v1/quotes/{quote_id}")).json()["data"]["status"]
                if current == wanted:
                    break
                await asyncio.sleep(0.1)
            return current

        cus = (await post("/v1/catalog/customers", {"email": "demo-buyer@example.com"}))["object_id"]
        card = (await post("/v1/catalog/payment_methods/pm_card_visa/attach", {"customer": cus}))["object_id"]
        await post(f"/v1/catalog/customers/{cus}", {"default_payment_method": card})
        product = (await post("/v1/catalog/products", {"name": "Demo consulting day"}))["object_id"]
        line = {"price_data": {"currency": "usd", "product": product, "unit_amount": "800.00"}, "quantity": 2}
        quote = (await post("/v1/quotes", {"customer_id": cus, "line_items": [line]}))["id"]
        if await status(quote, "awaiting_approval") == "awaiting_approval":
            await post(f"/v1/quotes/{quote}/approve", {"by": "demo-manager", "reason": "demo"})
        await status(quote, "open")
        await post(f"/v1/quotes/{quote}/accept", {"by": "demo-buyer@example.com"})
        final = await status(quote, "paid")
    return quote, f"quote 1,600.00 USD → invoice {final}", final == "paid"
