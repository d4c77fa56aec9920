"""`/v1/payments`: charge a card or a saved card, follow 3-D Secure, approve, capture, cancel, list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from temporalio.service import RPCError

from billflow.ledger import Payment
from billflow.money import from_minor
from billflow.payments import CaptureBody, DecisionBody, PaymentCreate, PaymentOut, PaymentState
from billflow.signals import Decision
from starter import payments as svc
from starter.deps import (
    IdempotencyKeyDep,
    LedgerDep,
    MerchantDep,
    SettingsDep,
    StateDep,
    idempotent_request_async,
    require_scope,
)
from starter.envelope import ApiError, Envelope, ok

router = APIRouter(prefix="/v1/payments", tags=["payments"])

READ = [require_scope("payments:read")]
WRITE = [require_scope("payments:write")]


class PaymentPage(BaseModel):
    data: list[PaymentOut]
    next_cursor: str | None


def _api_error(exc: svc.PaymentRequestError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc), exc.field)


def _row_out(row: Payment) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        status=row.status,
        amount=from_minor(row.amount_minor, row.currency),
        amount_captured=from_minor(row.amount_captured_minor, row.currency),
        amount_refunded=from_minor(row.amount_refunded_minor, row.currency),
        currency=row.currency,
        capture_method=row.capture_method,
        customer=row.stripe_customer_id,
        payment_method=row.payment_method,
        payment_intent_id=row.stripe_payment_intent_id,
        failure_code=row.failure_code,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
    )


def _out(state: PaymentState) -> PaymentOut:
    return PaymentOut.from_state(state)


@router.post("", dependencies=WRITE)
async def create_payment(
    body: PaymentCreate,
    merchant: MerchantDep,
    ledger: LedgerDep,
    settings: SettingsDep,
    app: StateDep,
    key: IdempotencyKeyDep,
) -> Envelope[PaymentOut]:
    """Charge once per Idempotency-Key; answers after Stripe's first answer (completed, pending, ...)."""
    await idempotent_request_async(ledger, merchant.merchant_id, "payment", key, body)
    try:
        state = await svc.create_payment(app.temporal, ledger, settings, merchant.merchant_id, key, body)
    except svc.PaymentRequestError as exc:
        raise _api_error(exc) from None
    return ok(_out(state))


@router.get("", dependencies=READ)
async def list_payments(
    merchant: MerchantDep,
    ledger: LedgerDep,
    provider: Literal["stripe"] | None = None,
    status: str | None = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
    min_amount: Decimal | None = None,
    max_amount: Decimal | None = None,
    customer: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[PaymentPage]:
    """Newest first, from the ledger; pass `next_cursor` back as `cursor` for the next page."""
    filters = svc.PaymentFilters(provider, status, currency, min_amount, max_amount, customer, since, until)
    try:
        rows, next_cursor = await run_in_threadpool(
            svc.list_payments, ledger, merchant.merchant_id, filters, cursor, limit
        )
    except svc.PaymentRequestError as exc:
        raise _api_error(exc) from None
    return ok(PaymentPage(data=[_row_out(r) for r in rows], next_cursor=next_cursor))


async def _live(app: StateDep, ledger: LedgerDep, merchant_id: str, payment_id: str) -> PaymentOut:
    try:
        state = await svc.payment_state(app.temporal, ledger, merchant_id, payment_id)
    except svc.PaymentRequestError as exc:
        raise _api_error(exc) from None
    except RPCError:
        # No worker to answer the query (or the run is gone): the ledger row is the record.
        return _row_out(svc.payment_row(ledger, merchant_id, payment_id))
    row = svc.payment_row(ledger, merchant_id, payment_id)
    out = PaymentOut.from_state(state, row.amount_refunded_minor)
    out.created_at = row.created_at
    return out


@router.get("/{payment_id}", dependencies=READ)
async def get_payment(
    payment_id: str, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[PaymentOut]:
    """The payment's live state: status, amounts, Stripe ids, and what it waits for until when."""
    return ok(await _live(app, ledger, merchant.merchant_id, payment_id))


@router.post("/{payment_id}/capture", dependencies=WRITE)
async def capture_payment(
    payment_id: str,
    merchant: MerchantDep,
    ledger: LedgerDep,
    app: StateDep,
    body: CaptureBody | None = None,
) -> Envelope[PaymentOut]:
    """Capture a manual-capture payment, fully or `amount` of it; the rest of the hold is released."""
    try:
        state = await svc.capture_payment(
            app.temporal, ledger, merchant.merchant_id, payment_id, body.amount if body else None
        )
    except svc.PaymentRequestError as exc:
        raise _api_error(exc) from None
    return ok(_out(state))


async def _steer(
    action: str, payment_id: str, merchant_id: str, ledger: LedgerDep, app: StateDep, body: DecisionBody
) -> PaymentOut:
    decision = Decision(by=body.by, reason=body.reason)
    steer = {"approve": svc.approve_payment, "reject": svc.reject_payment, "cancel": svc.cancel_payment}[
        action
    ]
    try:
        await steer(app.temporal, ledger, merchant_id, payment_id, decision)
    except svc.PaymentRequestError as exc:
        raise _api_error(exc) from None
    return await _live(app, ledger, merchant_id, payment_id)


@router.post("/{payment_id}/approve", dependencies=WRITE)
async def approve_payment(
    payment_id: str, body: DecisionBody, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[PaymentOut]:
    """Approve a payment above the merchant's threshold (who and why are recorded)."""
    return ok(await _steer("approve", payment_id, merchant.merchant_id, ledger, app, body))


@router.post("/{payment_id}/reject", dependencies=WRITE)
async def reject_payment(
    payment_id: str, body: DecisionBody, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[PaymentOut]:
    """Reject a payment waiting for approval; its authorisation is released."""
    return ok(await _steer("reject", payment_id, merchant.merchant_id, ledger, app, body))


@router.post("/{payment_id}/cancel", dependencies=WRITE)
async def cancel_payment(
    payment_id: str, body: DecisionBody, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[PaymentOut]:
    """Cancel a payment that is not final yet; any authorisation is released."""
    return ok(await _steer("cancel", payment_id, merchant.merchant_id, ledger, app, body))


@router.get("/{payment_id}/return", dependencies=READ, response_model=None)
async def customer_return(
    payment_id: str,
    merchant: MerchantDep,
    ledger: LedgerDep,
    app: StateDep,
    format: Literal["json", "html"] = "json",
) -> Response | Envelope[PaymentOut]:
    """Where the customer lands after 3-D Secure: the payment re-checks Stripe now."""
    try:
        await svc.customer_returned(app.temporal, ledger, merchant.merchant_id, payment_id)
    except svc.PaymentRequestError as exc:
        if exc.code != "payment_finished":
            raise _api_error(exc) from None
    out = await _live(app, ledger, merchant.merchant_id, payment_id)
    if format == "html":
        return HTMLResponse(
            f"<!doctype html><title>Payment {out.id}</title>"
            f"<p>Payment of {out.amount} {out.currency.upper()}: <strong>{out.status}</strong></p>"
        )
    return ok(out)
