"""`/v1/refunds`: refund all or part of a payment, approve or reject large refunds, list them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from billflow.ledger import Refund
from billflow.money import from_minor
from billflow.payments import DecisionBody, RefundCreate, RefundOut, RefundStatus
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

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])

READ = [require_scope("payments:read")]
WRITE = [require_scope("payments:write")]

# Refusals that are the caller's to fix, with the status they answer.
_REFUSED = {
    "payment_not_found": 404,
    "payment_not_captured": 409,
    "charge_already_refunded": 409,
    "amount_exceeds_refundable": 409,
    "amount_too_large": 409,
}


class RefundPage(BaseModel):
    data: list[RefundOut]
    next_cursor: str | None


def _row_out(row: Refund) -> RefundOut:
    return RefundOut(
        id=row.id,
        payment_id=row.payment_id,
        status=row.status,
        amount=from_minor(row.amount_minor, row.currency) if row.amount_minor else None,
        currency=row.currency,
        stripe_refund_id=row.stripe_refund_id,
        failure_reason=row.reason if row.status == RefundStatus.FAILED else None,
        created_at=row.created_at,
    )


@router.post("", dependencies=WRITE)
async def create_refund(
    body: RefundCreate,
    merchant: MerchantDep,
    ledger: LedgerDep,
    settings: SettingsDep,
    app: StateDep,
    key: IdempotencyKeyDep,
) -> Envelope[RefundOut]:
    """Refund `amount` (omit it for whatever is left); more than is left is a 409 naming both amounts."""
    await idempotent_request_async(ledger, merchant.merchant_id, "refund", key, body)
    try:
        state = await svc.create_refund(app.temporal, ledger, settings, merchant.merchant_id, key, body)
    except svc.PaymentRequestError as exc:
        raise ApiError(exc.status, exc.code, str(exc), exc.field) from None
    if state.status == RefundStatus.FAILED and state.failure_code in _REFUSED:
        raise ApiError(
            _REFUSED[state.failure_code],
            state.failure_code,
            state.failure_reason or "the refund was refused",
            "amount" if "amount" in state.failure_code else "payment_id",
        )
    return ok(RefundOut.from_state(state))


@router.get("", dependencies=READ)
async def list_refunds(
    merchant: MerchantDep,
    ledger: LedgerDep,
    payment_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[RefundPage]:
    """Newest first, optionally for one payment."""
    try:
        rows, next_cursor = await run_in_threadpool(
            svc.list_refunds, ledger, merchant.merchant_id, payment_id, cursor, limit
        )
    except svc.PaymentRequestError as exc:
        raise ApiError(exc.status, exc.code, str(exc), exc.field) from None
    return ok(RefundPage(data=[_row_out(r) for r in rows], next_cursor=next_cursor))


async def _decide(
    approve: bool,
    refund_id: str,
    body: DecisionBody,
    merchant_id: str,
    ledger: LedgerDep,
    app: StateDep,
) -> None:
    try:
        await svc.decide_refund(
            app.temporal, ledger, merchant_id, refund_id, approve, Decision(by=body.by, reason=body.reason)
        )
    except svc.PaymentRequestError as exc:
        raise ApiError(exc.status, exc.code, str(exc), exc.field) from None


@router.post("/{refund_id}/approve", dependencies=WRITE)
async def approve_refund(
    refund_id: str, body: DecisionBody, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[dict[str, str]]:
    """Approve a refund above the merchant's refund threshold."""
    await _decide(True, refund_id, body, merchant.merchant_id, ledger, app)
    return ok({"refund_id": refund_id, "decision": "approve"})


@router.post("/{refund_id}/reject", dependencies=WRITE)
async def reject_refund(
    refund_id: str, body: DecisionBody, merchant: MerchantDep, ledger: LedgerDep, app: StateDep
) -> Envelope[dict[str, str]]:
    """Reject a refund waiting for approval; its reserved amount goes back to the payment."""
    await _decide(False, refund_id, body, merchant.merchant_id, ledger, app)
    return ok({"refund_id": refund_id, "decision": "reject"})
