"""Quotes: create (starts a QuoteWorkflow), list, get, and the approve/reject/accept/cancel decisions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from temporalio.service import RPCError

from billflow.ledger import IdempotentRequest, Quote
from billflow.ledger.db import Ledger
from billflow.money import MoneyError, from_minor, to_minor
from billflow.quotes import (
    ACCEPT,
    QUOTE_FLOW,
    CollectionMethod,
    PriceData,
    QuoteInput,
    QuoteLine,
    QuoteState,
    Recurring,
    quote_public_id,
)
from billflow.signals import APPROVE, CANCEL, REJECT, Decision
from starter.deps import (
    AppState,
    IdempotencyKeyDep,
    LedgerDep,
    MerchantDep,
    SettingsDep,
    StateDep,
    idempotent_request_async,
    require_scope,
)
from starter.envelope import ApiError, Envelope, ErrorEnvelope, ok
from starter.quotes import quote_state, quote_workflow_id, signal_quote, start_quote

router = APIRouter(
    prefix="/v1/quotes",
    tags=["quotes"],
    responses={503: {"model": ErrorEnvelope, "description": "Temporal unreachable"}},
)

READ = [require_scope("payments:read")]
WRITE = [require_scope("quotes:write")]
QuoteId = Annotated[str, Path(pattern=r"^quo_[0-9a-f]{24}$", description="billflow's quote id")]


class PriceDataIn(BaseModel):
    """An inline price; `unit_amount` in major units ("12.50")."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field(min_length=3, max_length=3, examples=["usd"])
    product: str = Field(min_length=1, examples=["prod_123"])
    unit_amount: Decimal = Field(examples=["1200.00"])
    recurring: Recurring | None = None


class QuoteLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_id: str | None = Field(default=None, min_length=1)
    price_data: PriceDataIn | None = None
    quantity: int = Field(default=1, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_price(self) -> QuoteLineIn:
        if (self.price_id is None) == (self.price_data is None):
            raise ValueError("give exactly one of price_id or price_data")
        return self


class QuoteIn(BaseModel):
    """A quote for one of your users (billflow finds or creates the Stripe customer) or a customer id."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    customer_id: str | None = Field(default=None, min_length=1, max_length=80)
    line_items: list[QuoteLineIn] = Field(min_length=1, max_length=20)
    expires_in_days: int = Field(default=30, ge=1, le=365)
    description: str | None = Field(default=None, max_length=500)
    collection_method: CollectionMethod = "charge_automatically"
    days_until_due: int | None = Field(default=None, ge=1, le=365)


class QuoteOut(BaseModel):
    """A quote as billflow knows it; `status` is the flow's, amounts in major units."""

    id: str
    workflow_id: str
    status: str
    stripe_quote_id: str | None = None
    stripe_customer_id: str | None = None
    stripe_invoice_id: str | None = None
    stripe_subscription_id: str | None = None
    amount_total: Decimal | None = None
    currency: str | None = None
    expires_at: datetime | None = None
    approved_by: str | None = None


class QuoteList(BaseModel):
    data: list[QuoteOut]
    has_more: bool


def _amount(minor: int | None, currency: str | None) -> Decimal | None:
    return from_minor(minor, currency) if minor is not None and currency else None


def from_state(s: QuoteState) -> QuoteOut:
    return QuoteOut(
        id=s.quote_id,
        workflow_id=s.workflow_id,
        status=s.status,
        stripe_quote_id=s.stripe_quote_id,
        stripe_customer_id=s.stripe_customer_id,
        stripe_invoice_id=s.stripe_invoice_id,
        stripe_subscription_id=s.stripe_subscription_id,
        amount_total=_amount(s.amount_total_minor, s.currency),
        currency=s.currency,
        expires_at=s.expires_at,
        approved_by=s.approved_by,
    )


def from_row(row: Quote) -> QuoteOut:
    return QuoteOut(
        id=row.id,
        workflow_id=row.workflow_id,
        status=row.status,
        stripe_quote_id=row.stripe_quote_id,
        stripe_customer_id=row.stripe_customer_id,
        stripe_invoice_id=row.stripe_invoice_id,
        stripe_subscription_id=row.stripe_subscription_id,
        amount_total=_amount(row.amount_total_minor, row.currency),
        currency=row.currency,
    )


def to_input(merchant_id: str, body: QuoteIn) -> QuoteInput:
    """The workflow input: major units become minor units (refusing amounts the currency cannot take)."""
    lines = []
    for i, line in enumerate(body.line_items):
        price_data = None
        if line.price_data is not None:
            pd = line.price_data
            try:
                minor = to_minor(pd.unit_amount, pd.currency)
            except MoneyError as exc:
                raise ApiError(
                    422, "invalid_amount", str(exc), f"line_items.{i}.price_data.unit_amount"
                ) from None
            price_data = PriceData(
                currency=pd.currency.lower(),
                product=pd.product,
                unit_amount_minor=minor,
                recurring=pd.recurring,
            )
        lines.append(QuoteLine(price_id=line.price_id, price_data=price_data, quantity=line.quantity))
    try:
        return QuoteInput(
            merchant_id=merchant_id, **body.model_dump(exclude={"line_items"}), line_items=lines
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(422, "invalid_request", str(first["msg"]).removeprefix("Value error, ")) from None


def _find(ledger: Ledger, merchant_id: str, quote_id: str) -> tuple[str, Quote | None] | None:
    """The quote's workflow id and ledger row; a flow that has not written its row yet is found by its
    request record (the quote id is derived from the workflow id)."""
    with ledger.session() as session:
        row = session.scalar(select(Quote).where(Quote.id == quote_id, Quote.merchant_id == merchant_id))
        if row is not None:
            return row.workflow_id, row
        requested = session.scalars(
            select(IdempotentRequest.workflow_id).where(
                IdempotentRequest.merchant_id == merchant_id, IdempotentRequest.scope == QUOTE_FLOW
            )
        )
        for wid in requested:
            if quote_public_id(wid) == quote_id:
                return wid, None
    return None


async def _live(state: AppState, ledger: Ledger, merchant_id: str, quote_id: str) -> QuoteOut:
    found = await run_in_threadpool(_find, ledger, merchant_id, quote_id)
    if found is None:
        raise ApiError(404, "not_found", f"no quote {quote_id}")
    wid, row = found
    client = await state.temporal()
    try:
        return from_state(await quote_state(client, wid))
    except RPCError:
        if row is None:
            raise ApiError(404, "not_found", f"no quote {quote_id}") from None
        return from_row(row)  # the flow's history is gone (retention): the ledger still knows


@router.post("", status_code=201, dependencies=WRITE)
async def create_quote(
    body: QuoteIn,
    merchant: MerchantDep,
    ledger: LedgerDep,
    state: StateDep,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
) -> Envelope[QuoteOut]:
    """Start a quote flow: draft at Stripe, approval unless under your auto-approval limit, then open."""
    data = to_input(merchant.merchant_id, body)
    wid = await idempotent_request_async(ledger, merchant.merchant_id, QUOTE_FLOW, key, body)
    assert wid == quote_workflow_id(merchant.merchant_id, key)
    client = await state.temporal()
    await start_quote(client, settings.temporal_task_queue, wid, data)
    current = QuoteState(quote_id=quote_public_id(wid), workflow_id=wid, merchant_id=merchant.merchant_id)
    try:
        current = await quote_state(client, wid)
    except RPCError:
        pass  # not picked up by a worker yet: it is "creating"
    return ok(from_state(current))


@router.get("", dependencies=READ)
def list_quotes(
    merchant: MerchantDep,
    ledger: LedgerDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
) -> Envelope[QuoteList]:
    """Your quotes from the ledger, newest id order is stable for paging (`starting_after` = last id)."""
    query = select(Quote).where(Quote.merchant_id == merchant.merchant_id)
    if status:
        query = query.where(Quote.status == status)
    if starting_after:
        query = query.where(Quote.id > starting_after)
    with ledger.session() as session:
        rows = list(session.scalars(query.order_by(Quote.id).limit(limit + 1)))
    return ok(QuoteList(data=[from_row(r) for r in rows[:limit]], has_more=len(rows) > limit))


@router.get("/{quote_id}", dependencies=READ)
async def get_quote(
    quote_id: QuoteId, merchant: MerchantDep, ledger: LedgerDep, state: StateDep
) -> Envelope[QuoteOut]:
    """One quote, with the flow's live status."""
    return ok(await _live(state, ledger, merchant.merchant_id, quote_id))


ALLOWED: dict[str, tuple[str, ...]] = {
    APPROVE: ("awaiting_approval",),
    REJECT: ("awaiting_approval",),
    ACCEPT: ("open",),
    CANCEL: ("creating", "draft", "awaiting_approval", "open"),
}


async def _decide(
    action: str,
    quote_id: str,
    body: Decision,
    merchant_id: str,
    ledger: Ledger,
    state: AppState,
) -> QuoteOut:
    current = await _live(state, ledger, merchant_id, quote_id)
    if current.status not in ALLOWED[action]:
        raise ApiError(
            409,
            "invalid_state",
            f"cannot {action} a quote in status {current.status} (allowed in: {', '.join(ALLOWED[action])})",
        )
    await signal_quote(await state.temporal(), current.workflow_id, action, body)
    return current


@router.post("/{quote_id}/approve", dependencies=WRITE)
async def approve_quote(
    quote_id: QuoteId, body: Decision, merchant: MerchantDep, ledger: LedgerDep, state: StateDep
) -> Envelope[QuoteOut]:
    """A manager approves the draft quote; the flow finalizes it."""
    return ok(await _decide(APPROVE, quote_id, body, merchant.merchant_id, ledger, state))


@router.post("/{quote_id}/reject", dependencies=WRITE)
async def reject_quote(
    quote_id: QuoteId, body: Decision, merchant: MerchantDep, ledger: LedgerDep, state: StateDep
) -> Envelope[QuoteOut]:
    """A manager rejects the draft quote; the flow cancels it at Stripe."""
    return ok(await _decide(REJECT, quote_id, body, merchant.merchant_id, ledger, state))


@router.post("/{quote_id}/accept", dependencies=WRITE)
async def accept_quote(
    quote_id: QuoteId, body: Decision, merchant: MerchantDep, ledger: LedgerDep, state: StateDep
) -> Envelope[QuoteOut]:
    """The customer accepted the open quote; the flow invoices (or subscribes) them."""
    return ok(await _decide(ACCEPT, quote_id, body, merchant.merchant_id, ledger, state))


@router.post("/{quote_id}/cancel", dependencies=WRITE)
async def cancel_quote(
    quote_id: QuoteId, body: Decision, merchant: MerchantDep, ledger: LedgerDep, state: StateDep
) -> Envelope[QuoteOut]:
    """Cancel a quote not yet accepted."""
    return ok(await _decide(CANCEL, quote_id, body, merchant.merchant_id, ledger, state))
