"""Ledger writes of the quote flow: one `Quote` row per workflow, one `Invoice` row per Stripe invoice."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.invoices import InvoiceSnapshot
from billflow.ledger import Invoice, Quote
from billflow.ledger.db import Ledger, upsert


class QuoteRecord(BaseModel):
    quote_id: str
    workflow_id: str
    merchant_id: str
    status: str
    stripe_quote_id: str | None = None
    stripe_customer_id: str | None = None
    amount_total_minor: int | None = None
    currency: str | None = None
    stripe_invoice_id: str | None = None
    stripe_subscription_id: str | None = None


class InvoiceRecord(BaseModel):
    merchant_id: str
    workflow_id: str | None
    invoice: InvoiceSnapshot


class QuotesLedger:
    """Idempotent upserts: replaying any of these leaves the same rows."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="quotes.record")
    def record_quote(self, data: QuoteRecord) -> None:
        values: dict[str, Any] = {
            "id": data.quote_id,
            "workflow_id": data.workflow_id,
            "merchant_id": data.merchant_id,
            "status": data.status,
        }
        optional = {
            "stripe_quote_id": data.stripe_quote_id,
            "stripe_customer_id": data.stripe_customer_id,
            "amount_total_minor": data.amount_total_minor,
            "currency": data.currency.lower() if data.currency else None,
            "stripe_invoice_id": data.stripe_invoice_id,
            "stripe_subscription_id": data.stripe_subscription_id,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        with self._ledger.session() as session:
            upsert(
                session,
                Quote,
                values,
                ["workflow_id"],
                update=[c for c in values if c not in ("id", "workflow_id", "merchant_id")],
            )

    @activity.defn(name="invoices.record")
    def record_invoice(self, data: InvoiceRecord) -> None:
        inv = data.invoice
        values: dict[str, Any] = {
            "stripe_invoice_id": inv.id,
            "merchant_id": data.merchant_id,
            "workflow_id": data.workflow_id,
            "stripe_customer_id": inv.customer_id,
            "stripe_subscription_id": inv.subscription_id,
            "stripe_quote_id": inv.quote_id,
            "status": inv.status,
            "billing_reason": inv.billing_reason,
            "amount_due_minor": inv.amount_due_minor,
            "amount_paid_minor": inv.amount_paid_minor,
            "currency": inv.currency.lower(),
        }
        with self._ledger.session() as session:
            upsert(session, Invoice, values, ["stripe_invoice_id"])
