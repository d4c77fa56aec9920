"""Stripe catalogue and connector operations: reads straight from Stripe, writes through Temporal.

Reads call Stripe with the merchant's key (async SDK). Every write runs as a `StripeWriteWorkflow`
whose id derives from the request's Idempotency-Key, so a retried request never writes twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.exceptions import ApplicationError

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.catalog import (
    STRIPE_WRITE_FLOW,
    Metadata,
    Recurring,
    StripeWriteInput,
    StripeWriteResult,
    validate_params,
)
from billflow.ledger.db import Ledger
from billflow.money import MoneyError, to_minor
from starter.deps import (
    AppState,
    IdempotencyKeyDep,
    LedgerDep,
    MerchantDep,
    SettingsDep,
    StateDep,
    idempotent_request_async,
    state_of,
)
from starter.deps import require_scope as scope
from starter.envelope import ApiError, Envelope, ErrorEnvelope, ok
from starter.quotes import StripeRequestError, run_stripe_write, stripe_request_error

router = APIRouter(
    prefix="/v1/catalog",
    tags=["catalog"],
    responses={
        402: {"model": ErrorEnvelope, "description": "Card declined"},
        502: {"model": ErrorEnvelope, "description": "Stripe refused billflow's credentials or failed"},
        503: {"model": ErrorEnvelope, "description": "Temporal unreachable: nothing was written"},
    },
)

READ = [scope("payments:read")]
WRITE = [scope("payments:write")]
StripeId = Annotated[str, Path(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


class StripeList(BaseModel):
    """One page of Stripe objects; pass the last id as `starting_after` for the next page."""

    data: list[dict[str, Any]]
    has_more: bool


def _clients(request: Request, settings: SettingsDep, ledger: LedgerDep) -> StripeClients:
    state = state_of(request)
    clients: StripeClients | None = getattr(state, "stripe_clients", None)
    if clients is None:
        clients = StripeClients(settings, ledger)
        state.stripe_clients = clients  # type: ignore[attr-defined]
    return clients


ClientsDep = Annotated[StripeClients, Depends(_clients)]


def _api_error(exc: StripeRequestError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.field)


async def _read(
    clients: StripeClients, merchant_id: str, call: Callable[[stripe.StripeClient], Awaitable[Any]]
) -> Any:
    try:
        client = await clients.for_merchant(merchant_id)
        with stripe_errors():
            return await call(client)
    except ApplicationError as exc:
        raise _api_error(stripe_request_error(exc)) from None


async def _one(
    clients: StripeClients, merchant_id: str, call: Callable[[stripe.StripeClient], Awaitable[Any]]
) -> dict[str, Any]:
    obj = await _read(clients, merchant_id, call)
    out: dict[str, Any] = obj.to_dict(recursive=True)
    return out


async def _page(
    clients: StripeClients, merchant_id: str, call: Callable[[stripe.StripeClient], Awaitable[Any]]
) -> StripeList:
    page = await _read(clients, merchant_id, call)
    return StripeList(data=[o.to_dict(recursive=True) for o in page.data], has_more=bool(page.has_more))


def _paging(limit: int, starting_after: str | None, **filters: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
    if starting_after:
        params["starting_after"] = starting_after
    return params


Limit = Annotated[int, Query(ge=1, le=100)]
After = Annotated[str | None, Query(max_length=255)]


@dataclass
class Writer:
    """Everything a write needs: who asks, with which Idempotency-Key, and where to run it."""

    merchant_id: str
    key: str
    state: AppState
    ledger: Ledger
    task_queue: str

    async def write(self, operation: str, target_id: str | None, params: dict[str, Any]) -> StripeWriteResult:
        try:
            data = StripeWriteInput(
                merchant_id=self.merchant_id,
                operation=operation,
                target_id=target_id,
                params=validate_params(operation, params),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise ApiError(422, "invalid_request", f"{field or 'body'}: {first['msg']}", field) from None
        # The same key with another operation or body is a 409, never another write.
        await idempotent_request_async(
            self.ledger, self.merchant_id, STRIPE_WRITE_FLOW, self.key, data.model_dump(mode="json")
        )
        try:
            client = await self.state.temporal()  # only now: a bad request is a 4xx even with Temporal down
            return await run_stripe_write(client, self.task_queue, self.key, data)
        except StripeRequestError as exc:
            raise _api_error(exc) from None


def _writer(
    merchant: MerchantDep,
    key: IdempotencyKeyDep,
    state: StateDep,
    ledger: LedgerDep,
    settings: SettingsDep,
) -> Writer:
    return Writer(merchant.merchant_id, key, state, ledger, settings.temporal_task_queue)


WriterDep = Annotated[Writer, Depends(_writer)]


def _minor(amount: Decimal, currency: str, field: str) -> int:
    try:
        return to_minor(amount, currency)
    except MoneyError as exc:
        raise ApiError(422, "invalid_amount", str(exc), field) from None


# --- account ---------------------------------------------------------------------------------


@router.get("/account", dependencies=READ)
async def get_account(merchant: MerchantDep, clients: ClientsDep) -> Envelope[dict[str, Any]]:
    """The Stripe account behind your key: the "test connection" check."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.accounts.retrieve_current_async()))


# --- customers -------------------------------------------------------------------------------


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    name: str | None = None
    description: str | None = None
    default_payment_method: str | None = None
    metadata: Metadata | None = None


@router.get("/customers", dependencies=READ)
async def list_customers(
    merchant: MerchantDep,
    clients: ClientsDep,
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Limit = 10,
    starting_after: After = None,
) -> Envelope[StripeList]:
    """Customers, optionally filtered by email."""
    params = _paging(limit, starting_after, email=email)
    return ok(await _page(clients, merchant.merchant_id, lambda c: c.v1.customers.list_async(params)))  # type: ignore[arg-type]


@router.get("/customers/{customer_id}", dependencies=READ)
async def get_customer(
    customer_id: StripeId, merchant: MerchantDep, clients: ClientsDep
) -> Envelope[dict[str, Any]]:
    """One customer."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.customers.retrieve_async(customer_id)))


@router.post("/customers", status_code=201, dependencies=WRITE)
async def create_customer(
    body: CustomerIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Create a customer."""
    params = body.model_dump(exclude_none=True)
    return ok(await w.write("customers.create", None, params))


@router.post("/customers/{customer_id}", dependencies=WRITE)
async def update_customer(
    customer_id: StripeId,
    body: CustomerIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Change a customer's email, name, description or metadata."""
    params = body.model_dump(exclude_none=True)
    return ok(await w.write("customers.update", customer_id, params))


@router.delete("/customers/{customer_id}", dependencies=WRITE)
async def delete_customer(
    customer_id: StripeId,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Delete a customer (Stripe also cancels their subscriptions)."""
    return ok(await w.write("customers.delete", customer_id, {}))


# --- products --------------------------------------------------------------------------------


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    active: bool | None = None
    metadata: Metadata | None = None


@router.post("/products", status_code=201, dependencies=WRITE)
async def create_product(
    body: ProductIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Create a product."""
    params = body.model_dump(exclude_none=True)
    return ok(await w.write("products.create", None, params))


@router.get("/products", dependencies=READ)
async def list_products(
    merchant: MerchantDep,
    clients: ClientsDep,
    active: bool | None = None,
    limit: Limit = 10,
    starting_after: After = None,
) -> Envelope[StripeList]:
    """Products, optionally only active ones."""
    params = _paging(limit, starting_after, active=active)
    return ok(await _page(clients, merchant.merchant_id, lambda c: c.v1.products.list_async(params)))  # type: ignore[arg-type]


@router.get("/products/{product_id}", dependencies=READ)
async def get_product(
    product_id: StripeId, merchant: MerchantDep, clients: ClientsDep
) -> Envelope[dict[str, Any]]:
    """One product."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.products.retrieve_async(product_id)))


@router.delete("/products/{product_id}", dependencies=WRITE)
async def delete_product(
    product_id: StripeId,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Delete a product that has no prices."""
    return ok(await w.write("products.delete", product_id, {}))


# --- prices ----------------------------------------------------------------------------------


class PriceIn(BaseModel):
    """A price of `unit_amount` (major units, e.g. "9.99") in `currency`; `recurring` makes it a plan."""

    model_config = ConfigDict(extra="forbid")

    product: str
    currency: str = Field(min_length=3, max_length=3)
    unit_amount: Decimal
    nickname: str | None = None
    recurring: Recurring | None = None
    metadata: Metadata | None = None


@router.post("/prices", status_code=201, dependencies=WRITE)
async def create_price(
    body: PriceIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Create a one-time price, or a recurring one when `recurring` is given."""
    params = body.model_dump(exclude_none=True, exclude={"unit_amount", "recurring"})
    params["unit_amount_minor"] = _minor(body.unit_amount, body.currency, "unit_amount")
    operation = "prices.create_one_time"
    if body.recurring is not None:
        operation, params["recurring"] = "prices.create_recurring", body.recurring.model_dump()
    return ok(await w.write(operation, None, params))


@router.get("/prices", dependencies=READ)
async def list_prices(
    merchant: MerchantDep,
    clients: ClientsDep,
    product: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 10,
    starting_after: After = None,
) -> Envelope[StripeList]:
    """Prices, optionally of one product."""
    params = _paging(limit, starting_after, product=product)
    return ok(await _page(clients, merchant.merchant_id, lambda c: c.v1.prices.list_async(params)))  # type: ignore[arg-type]


@router.get("/prices/{price_id}", dependencies=READ)
async def get_price(
    price_id: StripeId, merchant: MerchantDep, clients: ClientsDep
) -> Envelope[dict[str, Any]]:
    """One price."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.prices.retrieve_async(price_id)))


# --- payment links ---------------------------------------------------------------------------


class LinkLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: str
    quantity: int = 1


class PaymentLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_items: list[LinkLineIn]
    metadata: Metadata | None = None


@router.post("/payment_links", status_code=201, dependencies=WRITE)
async def create_payment_link(
    body: PaymentLinkIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Create a payment link for existing prices."""
    params = body.model_dump(exclude_none=True)
    return ok(await w.write("payment_links.create", None, params))


@router.get("/payment_links", dependencies=READ)
async def list_payment_links(
    merchant: MerchantDep, clients: ClientsDep, limit: Limit = 10, starting_after: After = None
) -> Envelope[StripeList]:
    """Payment links."""
    params = _paging(limit, starting_after)
    return ok(await _page(clients, merchant.merchant_id, lambda c: c.v1.payment_links.list_async(params)))  # type: ignore[arg-type]


@router.get("/payment_links/{link_id}", dependencies=READ)
async def get_payment_link(
    link_id: StripeId, merchant: MerchantDep, clients: ClientsDep
) -> Envelope[dict[str, Any]]:
    """One payment link."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.payment_links.retrieve_async(link_id)))


# --- charges and refunds ---------------------------------------------------------------------


@router.get("/charges", dependencies=READ)
async def list_charges(
    merchant: MerchantDep,
    clients: ClientsDep,
    customer: Annotated[str | None, Query(max_length=255)] = None,
    payment_intent: Annotated[str | None, Query(max_length=255)] = None,
    limit: Limit = 10,
    starting_after: After = None,
) -> Envelope[StripeList]:
    """Charges, optionally of one customer or payment intent."""
    params = _paging(limit, starting_after, customer=customer, payment_intent=payment_intent)
    return ok(await _page(clients, merchant.merchant_id, lambda c: c.v1.charges.list_async(params)))  # type: ignore[arg-type]


@router.get("/charges/{charge_id}", dependencies=READ)
async def get_charge(
    charge_id: StripeId, merchant: MerchantDep, clients: ClientsDep
) -> Envelope[dict[str, Any]]:
    """One charge."""
    return ok(await _one(clients, merchant.merchant_id, lambda c: c.v1.charges.retrieve_async(charge_id)))


class RefundIn(BaseModel):
    """Refund a charge or a payment intent: all that is left, or `amount` (major units) in `currency`."""

    model_config = ConfigDict(extra="forbid")

    charge: str | None = None
    payment_intent: str | None = None
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    reason: str | None = None
    metadata: Metadata | None = None


@router.post("/refunds", status_code=201, dependencies=WRITE)
async def create_refund(
    body: RefundIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Refund by charge id or by payment intent id."""
    params = body.model_dump(exclude_none=True, exclude={"amount", "currency"})
    if body.amount is not None:
        if body.currency is None:
            raise ApiError(422, "invalid_request", "currency is required with amount", "currency")
        params["amount_minor"] = _minor(body.amount, body.currency, "amount")
    return ok(await w.write("refunds.create", None, params))


# --- payment intents and payment methods (direct actions) ------------------------------------


class CaptureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)


@router.post("/payment_intents/{intent_id}/confirm", dependencies=WRITE)
async def confirm_payment_intent(
    intent_id: StripeId,
    w: WriterDep,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Envelope[StripeWriteResult]:
    """Confirm a payment intent (`payment_method`, `off_session`, `return_url`)."""
    return ok(await w.write("payment_intents.confirm", intent_id, body or {}))


@router.post("/payment_intents/{intent_id}/capture", dependencies=WRITE)
async def capture_payment_intent(
    intent_id: StripeId,
    w: WriterDep,
    body: CaptureIn | None = None,
) -> Envelope[StripeWriteResult]:
    """Capture an authorised payment intent, fully or `amount` of it."""
    params: dict[str, Any] = {}
    if body is not None and body.amount is not None:
        if body.currency is None:
            raise ApiError(422, "invalid_request", "currency is required with amount", "currency")
        params["amount_to_capture_minor"] = _minor(body.amount, body.currency, "amount")
    return ok(await w.write("payment_intents.capture", intent_id, params))


@router.post("/payment_intents/{intent_id}/cancel", dependencies=WRITE)
async def cancel_payment_intent(
    intent_id: StripeId,
    w: WriterDep,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Envelope[StripeWriteResult]:
    """Cancel a payment intent (`cancellation_reason` optional)."""
    return ok(await w.write("payment_intents.cancel", intent_id, body or {}))


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str


@router.post("/payment_methods/{pm_id}/attach", dependencies=WRITE)
async def attach_payment_method(
    pm_id: StripeId,
    body: AttachIn,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Attach a payment method to a customer."""
    return ok(await w.write("payment_methods.attach", pm_id, body.model_dump()))


@router.post("/payment_methods/{pm_id}/detach", dependencies=WRITE)
async def detach_payment_method(
    pm_id: StripeId,
    w: WriterDep,
) -> Envelope[StripeWriteResult]:
    """Detach a payment method from its customer (permanent)."""
    return ok(await w.write("payment_methods.detach", pm_id, {}))
