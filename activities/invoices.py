"""Stripe side of an invoice's life: finalize, pay with the default card, send, follow, close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import BaseModel
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors


class InvoiceStepInput(BaseModel):
    """One write (with its idempotency key) or read (without) on an existing invoice."""

    merchant_id: str
    invoice_id: str
    idempotency_key: str | None = None
    workflow_id: str | None = None  # tagged on a draft's metadata so its webhooks reach the flow


class InvoiceSnapshot(BaseModel):
    """The facts of a Stripe invoice a flow acts on and the ledger keeps."""

    id: str
    status: str
    customer_id: str | None
    collection_method: str | None = None
    amount_due_minor: int
    amount_paid_minor: int
    currency: str
    due_at: datetime | None = None
    number: str | None = None
    hosted_invoice_url: str | None = None
    invoice_pdf: str | None = None
    billing_reason: str | None = None
    quote_id: str | None = None
    subscription_id: str | None = None


def _id(field: Any) -> str | None:
    if field is None or isinstance(field, str):
        return field
    return str(field.id)


def snapshot(invoice: stripe.Invoice) -> InvoiceSnapshot:
    parent = getattr(invoice, "parent", None)
    quote_details = getattr(parent, "quote_details", None) if parent is not None else None
    sub_details = getattr(parent, "subscription_details", None) if parent is not None else None
    due = getattr(invoice, "due_date", None)
    return InvoiceSnapshot(
        id=str(invoice.id),
        status=str(invoice.status),
        customer_id=_id(invoice.customer),
        collection_method=invoice.collection_method,
        amount_due_minor=invoice.amount_due,
        amount_paid_minor=invoice.amount_paid,
        currency=invoice.currency,
        due_at=datetime.fromtimestamp(due, UTC) if due else None,
        number=invoice.number,
        hosted_invoice_url=invoice.hosted_invoice_url,
        invoice_pdf=invoice.invoice_pdf,
        billing_reason=invoice.billing_reason,
        quote_id=_id(getattr(quote_details, "quote", None)) if quote_details is not None else None,
        subscription_id=_id(getattr(sub_details, "subscription", None)) if sub_details is not None else None,
    )


class InvoiceActivities:
    """Invoice activities; each write re-reads first so a late retry never repeats a finished step."""

    def __init__(self, stripe_clients: StripeClients) -> None:
        self._stripe = stripe_clients

    def _opts(self, data: InvoiceStepInput) -> Any:
        return {"idempotency_key": data.idempotency_key} if data.idempotency_key else None

    @activity.defn(name="invoices.retrieve")
    async def retrieve(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            return snapshot(await client.v1.invoices.retrieve_async(data.invoice_id))

    @activity.defn(name="invoices.finalize")
    async def finalize(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        """draft → open (hosted URL and PDF appear)."""
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.invoices.retrieve_async(data.invoice_id)
            if current.status != "draft":
                return snapshot(current)
            tags = current.metadata.to_dict() if current.metadata is not None else {}
            if data.workflow_id and tags.get("workflow_id") != data.workflow_id:
                await client.v1.invoices.update_async(
                    data.invoice_id,
                    {"metadata": {"workflow_id": data.workflow_id}},
                    {"idempotency_key": f"{data.idempotency_key}-tag"} if data.idempotency_key else None,
                )
            return snapshot(
                await client.v1.invoices.finalize_invoice_async(
                    data.invoice_id, {"auto_advance": False}, self._opts(data)
                )
            )

    async def _step(
        self,
        data: InvoiceStepInput,
        acts_on: tuple[str, ...],
        call: Callable[[stripe.StripeClient], Awaitable[stripe.Invoice]],
    ) -> InvoiceSnapshot:
        """Re-read the invoice first: a late retry of a step that already happened changes nothing."""
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.invoices.retrieve_async(data.invoice_id)
            if current.status not in acts_on:
                return snapshot(current)
            return snapshot(await call(client))

    @activity.defn(name="invoices.pay")
    async def pay(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        """Charge the open invoice off-session with the customer's default card."""
        return await self._step(
            data,
            ("open",),
            lambda c: c.v1.invoices.pay_async(data.invoice_id, {"off_session": True}, self._opts(data)),
        )

    @activity.defn(name="invoices.send")
    async def send(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        """Email the open invoice to the customer (collection_method send_invoice)."""
        return await self._step(
            data,
            ("open",),
            lambda c: c.v1.invoices.send_invoice_async(data.invoice_id, None, self._opts(data)),
        )

    @activity.defn(name="invoices.mark_uncollectible")
    async def mark_uncollectible(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        return await self._step(
            data,
            ("open",),
            lambda c: c.v1.invoices.mark_uncollectible_async(data.invoice_id, None, self._opts(data)),
        )

    @activity.defn(name="invoices.void")
    async def void(self, data: InvoiceStepInput) -> InvoiceSnapshot:
        return await self._step(
            data,
            ("open", "uncollectible"),
            lambda c: c.v1.invoices.void_invoice_async(data.invoice_id, None, self._opts(data)),
        )
