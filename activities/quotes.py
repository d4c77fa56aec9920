"""Stripe side of the quote flow: customer, create, finalize, accept, cancel, re-read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import BaseModel
from sqlalchemy import select
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.config import Settings
from billflow.ledger import Customer, Merchant
from billflow.ledger.db import Ledger, upsert
from billflow.quotes import CollectionMethod, QuoteLine


class QuoteSettingsInput(BaseModel):
    merchant_id: str


class QuoteSettings(BaseModel):
    """The merchant's quote policy: quotes totalling less than this need no manager approval."""

    auto_approve_below_minor: int | None = None


class QuoteCustomerInput(BaseModel):
    merchant_id: str
    user_id: str
    workflow_id: str
    idempotency_key: str


class CreateQuoteInput(BaseModel):
    merchant_id: str
    workflow_id: str
    idempotency_key: str
    customer_id: str
    line_items: list[QuoteLine]
    expires_at: datetime
    description: str | None = None
    collection_method: CollectionMethod
    days_until_due: int | None = None


class QuoteStepInput(BaseModel):
    """One write (or read, without a key) on an existing quote."""

    merchant_id: str
    quote_id: str
    idempotency_key: str | None = None


class QuoteSnapshot(BaseModel):
    """The facts of a Stripe quote the workflow acts on."""

    id: str
    status: str
    customer_id: str | None
    amount_total_minor: int
    currency: str | None
    expires_at: datetime
    number: str | None = None
    invoice_id: str | None = None
    subscription_id: str | None = None
    subscription_price_id: str | None = None
    has_recurring: bool = False
    pdf_url: str | None = None


def _id(field: Any) -> str | None:
    if field is None or isinstance(field, str):
        return field
    return str(field.id)


def _ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def quote_line_params(line: QuoteLine) -> dict[str, Any]:
    """A billflow quote line as Stripe's `line_items[]` entry."""
    if line.price_id is not None:
        return {"price": line.price_id, "quantity": line.quantity}
    assert line.price_data is not None
    price_data: dict[str, Any] = {
        "currency": line.price_data.currency.lower(),
        "product": line.price_data.product,
        "unit_amount": line.price_data.unit_amount_minor,
    }
    if line.price_data.recurring is not None:
        price_data["recurring"] = line.price_data.recurring.model_dump()
    return {"price_data": price_data, "quantity": line.quantity}


class QuoteActivities:
    """Quote activities; the merchant's Stripe key comes from the ledger via `StripeClients`."""

    def __init__(self, settings: Settings, ledger: Ledger, stripe_clients: StripeClients) -> None:
        self._settings = settings
        self._ledger = ledger
        self._stripe = stripe_clients

    def _snapshot(self, quote: stripe.Quote) -> QuoteSnapshot:
        recurring = getattr(getattr(quote, "computed", None), "recurring", None)
        pdf_url = None
        if self._settings.stripe_api_base is None and quote.status != "draft":
            pdf_url = f"https://files.stripe.com/v1/quotes/{quote.id}/pdf"
        expires = _ts(quote.expires_at)
        assert expires is not None
        return QuoteSnapshot(
            id=quote.id,
            status=quote.status,
            customer_id=_id(quote.customer),
            amount_total_minor=quote.amount_total,
            currency=quote.currency,
            expires_at=expires,
            number=quote.number,
            invoice_id=_id(quote.invoice),
            subscription_id=_id(quote.subscription),
            has_recurring=recurring is not None or quote.subscription is not None,
            pdf_url=pdf_url,
        )

    @activity.defn(name="quotes.settings")
    def settings(self, data: QuoteSettingsInput) -> QuoteSettings:
        """Read the merchant's auto-approval limit from the ledger."""
        with self._ledger.session() as session:
            limit = session.scalar(
                select(Merchant.quote_auto_approve_below_minor).where(Merchant.id == data.merchant_id)
            )
        return QuoteSettings(auto_approve_below_minor=limit)

    @activity.defn(name="quotes.customer")
    async def customer(self, data: QuoteCustomerInput) -> str:
        """The Stripe customer of the merchant's user: the ledger's, or a new one recorded there."""
        with self._ledger.session() as session:
            existing = session.scalar(
                select(Customer.stripe_customer_id).where(
                    Customer.merchant_id == data.merchant_id, Customer.user_id == data.user_id
                )
            )
        if existing:
            return existing
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            created = await client.v1.customers.create_async(
                {"metadata": {"workflow_id": data.workflow_id, "user_id": data.user_id}},
                {"idempotency_key": data.idempotency_key},
            )
        with self._ledger.session() as session:
            upsert(
                session,
                Customer,
                {"merchant_id": data.merchant_id, "user_id": data.user_id, "stripe_customer_id": created.id},
                ["merchant_id", "user_id"],
                update=[],
            )
            stored = session.scalar(
                select(Customer.stripe_customer_id).where(
                    Customer.merchant_id == data.merchant_id, Customer.user_id == data.user_id
                )
            )
        return stored or created.id

    @activity.defn(name="quotes.create")
    async def create(self, data: CreateQuoteInput) -> QuoteSnapshot:
        """Create the draft quote at Stripe, tagged with the workflow id."""
        params: dict[str, Any] = {
            "customer": data.customer_id,
            "line_items": [quote_line_params(line) for line in data.line_items],
            "collection_method": data.collection_method,
            "expires_at": int(data.expires_at.timestamp()),
            "metadata": {"workflow_id": data.workflow_id},
        }
        if data.description:
            params["description"] = data.description
        if data.collection_method == "send_invoice":
            params["invoice_settings"] = {"days_until_due": data.days_until_due or 30}
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            quote = await client.v1.quotes.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": data.idempotency_key},
            )
        return self._snapshot(quote)

    @activity.defn(name="quotes.retrieve")
    async def retrieve(self, data: QuoteStepInput) -> QuoteSnapshot:
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            return self._snapshot(await client.v1.quotes.retrieve_async(data.quote_id))

    @activity.defn(name="quotes.finalize")
    async def finalize(self, data: QuoteStepInput) -> QuoteSnapshot:
        """draft → open; a retry after success finds it open already."""
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.quotes.retrieve_async(data.quote_id)
            if current.status != "draft":
                return self._snapshot(current)
            quote = await client.v1.quotes.finalize_quote_async(
                data.quote_id, None, {"idempotency_key": data.idempotency_key or ""}
            )
        return self._snapshot(quote)

    @activity.defn(name="quotes.accept")
    async def accept(self, data: QuoteStepInput) -> QuoteSnapshot:
        """open → accepted; Stripe creates the invoice (one-time lines) or the subscription."""
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            quote = await client.v1.quotes.retrieve_async(data.quote_id)
            if quote.status == "open":
                quote = await client.v1.quotes.accept_async(
                    data.quote_id, None, {"idempotency_key": data.idempotency_key or ""}
                )
            snap = self._snapshot(quote)
            if snap.subscription_id:
                sub = await client.v1.subscriptions.retrieve_async(snap.subscription_id)
                items = sub.items.data if sub.items is not None else []
                snap.subscription_price_id = items[0].price.id if items else None
                snap.has_recurring = True
        return snap

    @activity.defn(name="quotes.cancel")
    async def cancel(self, data: QuoteStepInput) -> QuoteSnapshot:
        """draft/open → canceled; a quote Stripe already canceled (expiry) is left as it is."""
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.quotes.retrieve_async(data.quote_id)
            if current.status not in ("draft", "open"):
                return self._snapshot(current)
            quote = await client.v1.quotes.cancel_async(
                data.quote_id, None, {"idempotency_key": data.idempotency_key or ""}
            )
        return self._snapshot(quote)
