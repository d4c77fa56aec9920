"""Ledger writes of the payment and refund flows: upserts on workflow ids, safe to replay.

Refunds are serialised per payment in the database: `reserve_refund` locks the payment row,
checks what is left (captured minus refunded, reservations included) and sets the amount aside in
the same transaction, so two refund workflows racing on one payment can never both pass.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio import activity

from billflow.ledger import Payment, Refund, utcnow
from billflow.ledger.db import Ledger, upsert
from billflow.metrics import PAYMENTS
from billflow.money import format_money
from billflow.payments import PaymentRecord, RefundStatus, Reservation, ReserveRefundInput, SettleRefundInput

# Payment columns a state record may overwrite (never the refunded amount: refunds own it).
_PAYMENT_UPDATABLE = [
    "status",
    "amount_captured_minor",
    "stripe_payment_intent_id",
    "stripe_customer_id",
    "payment_method",
    "failure_code",
    "failure_reason",
    "updated_at",
]


def _lock_payment(session: Session, payment_id: str) -> Payment | None:
    """Take the payment row's write lock (row lock on PostgreSQL, the write lock on SQLite)."""
    session.execute(
        update(Payment).where(Payment.id == payment_id).values(updated_at=Payment.updated_at),
        execution_options={"synchronize_session": False},
    )
    return session.scalar(select(Payment).where(Payment.id == payment_id))


class PaymentLedgerActivities:
    """Synchronous ledger writes (run on the worker's thread pool)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="payments.record_payment")
    def record_payment(self, data: PaymentRecord) -> None:
        """Upsert the payment row with the workflow's current state."""
        state = data.state
        values: dict[str, Any] = {
            "id": state.payment_id,
            "merchant_id": state.merchant_id,
            "workflow_id": state.workflow_id,
            "provider": "stripe",
            "status": state.status.value,
            "amount_minor": state.amount_minor,
            "currency": state.currency,
            "amount_captured_minor": state.amount_captured_minor,
            "amount_refunded_minor": 0,
            "capture_method": state.capture_method,
            "stripe_payment_intent_id": state.payment_intent_id,
            "stripe_customer_id": state.customer,
            "payment_method": state.payment_method,
            "description": data.description,
            "failure_code": state.failure_code,
            "failure_reason": state.failure_reason,
            "metadata": data.metadata,
            "updated_at": utcnow(),
        }
        with self._ledger.session() as session:
            before = session.scalar(select(Payment.status).where(Payment.workflow_id == state.workflow_id))
            upsert(session, Payment, values, ["workflow_id"], update=_PAYMENT_UPDATABLE)
        if before != values["status"]:  # a retried record of the same state counts once
            PAYMENTS.labels(values["status"]).inc()

    @activity.defn(name="refunds.reserve_refund")
    def reserve_refund(self, data: ReserveRefundInput) -> Reservation:
        """Set aside the refund's amount on its payment, or say why the payment cannot give it."""
        with self._ledger.session() as session:
            payment = _lock_payment(session, data.payment_id)
            existing = session.scalar(select(Refund).where(Refund.workflow_id == data.workflow_id))
            if existing is not None:  # a replay of this activity: answer as the first time did
                accepted = existing.status != RefundStatus.FAILED
                return Reservation(
                    accepted=accepted,
                    amount_minor=existing.amount_minor,
                    currency=existing.currency,
                    payment_intent_id=payment.stripe_payment_intent_id if payment else None,
                    failure_code=None if accepted else "refund_not_allowed",
                    failure_reason=None if accepted else existing.reason,
                )
            if payment is None or payment.merchant_id != data.merchant_id:
                return Reservation(
                    accepted=False,
                    amount_minor=data.amount_minor or 0,
                    currency="",
                    failure_code="payment_not_found",
                    failure_reason=f"payment {data.payment_id} does not exist",
                )
            remaining = payment.amount_captured_minor - payment.amount_refunded_minor
            amount = data.amount_minor if data.amount_minor is not None else remaining
            problem: tuple[str, str] | None = None
            if payment.status != "completed" or payment.amount_captured_minor <= 0:
                problem = ("payment_not_captured", f"payment {payment.id} is {payment.status}, not captured")
            elif remaining <= 0:
                problem = ("charge_already_refunded", f"payment {payment.id} is already fully refunded")
            elif amount > remaining:
                problem = (
                    "amount_exceeds_refundable",
                    f"refund of {format_money(amount, payment.currency)} exceeds the "
                    f"{format_money(remaining, payment.currency)} left to refund on payment {payment.id}",
                )
            row = {
                "id": data.refund_id,
                "merchant_id": data.merchant_id,
                "payment_id": payment.id,
                "workflow_id": data.workflow_id,
                "status": RefundStatus.PROCESSING.value if problem is None else RefundStatus.FAILED.value,
                "amount_minor": max(amount, 0),
                "currency": payment.currency,
                "reason": data.reason if problem is None else problem[1],
            }
            upsert(session, Refund, row, ["workflow_id"], update=[])
            if problem is not None:
                return Reservation(
                    accepted=False,
                    amount_minor=max(amount, 0),
                    currency=payment.currency,
                    payment_intent_id=payment.stripe_payment_intent_id,
                    failure_code=problem[0],
                    failure_reason=problem[1],
                )
            payment.amount_refunded_minor += amount
            payment.updated_at = utcnow()
            return Reservation(
                accepted=True,
                amount_minor=amount,
                currency=payment.currency,
                payment_intent_id=payment.stripe_payment_intent_id,
            )

    @activity.defn(name="refunds.settle_refund")
    def settle_refund(self, data: SettleRefundInput) -> None:
        """Record the refund's outcome; a failed refund gives its reservation back exactly once."""
        with self._ledger.session() as session:
            refund = session.scalar(select(Refund).where(Refund.workflow_id == data.workflow_id))
            if refund is None:
                return
            payment = _lock_payment(session, refund.payment_id)
            if data.release and refund.status != RefundStatus.FAILED and payment is not None:
                payment.amount_refunded_minor -= refund.amount_minor
                payment.updated_at = utcnow()
            refund.status = data.status.value
            if data.stripe_refund_id:
                refund.stripe_refund_id = data.stripe_refund_id
            if data.failure_reason:
                refund.reason = data.failure_reason
            refund.updated_at = utcnow()
