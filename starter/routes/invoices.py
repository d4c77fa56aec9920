"""Invoices billflow follows (ledger), and direct finalize / pay / void actions through Temporal."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select

from billflow.ledger import Invoice
from billflow.ledger.db import Ledger
from billflow.money import from_minor
from starter.deps import LedgerDep, MerchantDep, require_scope
from starter.envelope import ApiError, Envelope, ErrorEnvelope, ok
from starter.routes.catalog import Writer, WriterDep

router = APIRouter(
    prefix="/v1/invoices",
    tags=["invoices"],
    responses={503: {"model": ErrorEnvelope, "description": "Temporal unreachable"}},
)

READ = [require_scope("payments:read")]
WRITE = [require_scope("quotes:write")]
InvoiceId = Annotated[str, Path(pattern=r"^in_[A-Za-z0-9_]+$", max_length=80)]


class InvoiceOut(BaseModel):
    """An invoice as the ledger last saw it; amounts in major units."""

    id: str
    status: str
    workflow_id: str | None
    stripe_customer_id: str | None
    stripe_quote_id: str | None
    stripe_subscription_id: str | None
    billing_reason: str | None
    amount_due: Decimal
    amount_paid: Decimal
    currency: str


class InvoiceList(BaseModel):
    data: list[InvoiceOut]
    has_more: bool


def view(row: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=row.stripe_invoice_id,
        status=row.status,
        workflow_id=row.workflow_id,
        stripe_customer_id=row.stripe_customer_id,
        stripe_quote_id=row.stripe_quote_id,
        stripe_subscription_id=row.stripe_subscription_id,
        billing_reason=row.billing_reason,
        amount_due=from_minor(row.amount_due_minor, row.currency),
        amount_paid=from_minor(row.amount_paid_minor, row.currency),
        currency=row.currency,
    )


def _row(ledger: Ledger, merchant_id: str, invoice_id: str) -> Invoice:
    with ledger.session() as session:
        row = session.scalar(
            select(Invoice).where(Invoice.stripe_invoice_id == invoice_id, Invoice.merchant_id == merchant_id)
        )
    if row is None:
        raise ApiError(404, "not_found", f"no invoice {invoice_id}")
    return row


@router.get("", dependencies=READ)
def list_invoices(
    merchant: MerchantDep,
    ledger: LedgerDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(max_length=80)] = None,
) -> Envelope[InvoiceList]:
    """Invoices in the ledger, in id order (`starting_after` = the last id of the previous page)."""
    query = select(Invoice).where(Invoice.merchant_id == merchant.merchant_id)
    if status:
        query = query.where(Invoice.status == status)
    if customer:
        query = query.where(Invoice.stripe_customer_id == customer)
    if starting_after:
        query = query.where(Invoice.stripe_invoice_id > starting_after)
    with ledger.session() as session:
        rows = list(session.scalars(query.order_by(Invoice.stripe_invoice_id).limit(limit + 1)))
    return ok(InvoiceList(data=[view(r) for r in rows[:limit]], has_more=len(rows) > limit))


@router.get("/{invoice_id}", dependencies=READ)
def get_invoice(invoice_id: InvoiceId, merchant: MerchantDep, ledger: LedgerDep) -> Envelope[InvoiceOut]:
    """One invoice."""
    return ok(view(_row(ledger, merchant.merchant_id, invoice_id)))


async def _act(operation: str, invoice_id: str, w: Writer) -> dict[str, Any]:
    await run_in_threadpool(_row, w.ledger, w.merchant_id, invoice_id)  # only the merchant's own invoices
    result = await w.write(operation, invoice_id, {})
    obj: dict[str, Any] = result.object
    return obj


@router.post("/{invoice_id}/finalize", dependencies=WRITE)
async def finalize_invoice(invoice_id: InvoiceId, w: WriterDep) -> Envelope[dict[str, Any]]:
    """Finalize a draft invoice (draft → open)."""
    return ok(await _act("invoices.finalize", invoice_id, w))


@router.post("/{invoice_id}/pay", dependencies=WRITE)
async def pay_invoice(invoice_id: InvoiceId, w: WriterDep) -> Envelope[dict[str, Any]]:
    """Charge an open invoice now with the customer's default card."""
    return ok(await _act("invoices.pay", invoice_id, w))


@router.post("/{invoice_id}/void", dependencies=WRITE)
async def void_invoice(invoice_id: InvoiceId, w: WriterDep) -> Envelope[dict[str, Any]]:
    """Void an open or uncollectible invoice (irreversible)."""
    return ok(await _act("invoices.void", invoice_id, w))
