"""Pure comparison of ledger rows with Stripe objects: what reconciliation reports.

Nothing here changes money; it only names differences. Objects touched within the settle window
are skipped, because a flow in flight legitimately has Stripe one step ahead of the ledger.
"""

from __future__ import annotations

from pydantic import BaseModel

# Ledger payment statuses each PaymentIntent status is consistent with.
PAYMENT_STATUS_MATCHES: dict[str, frozenset[str]] = {
    "succeeded": frozenset({"completed"}),
    "requires_capture": frozenset({"requires_capture", "requires_approval", "processing"}),
    "requires_action": frozenset({"pending", "processing"}),
    "requires_confirmation": frozenset({"processing"}),
    "processing": frozenset({"processing"}),
    "requires_payment_method": frozenset({"failed", "pending", "processing"}),
    "canceled": frozenset({"canceled", "failed"}),
}


class LedgerPaymentView(BaseModel):
    payment_id: str
    intent_id: str | None
    status: str
    amount_minor: int
    captured_minor: int
    refunded_minor: int
    currency: str


class StripeIntentView(BaseModel):
    intent_id: str
    status: str
    amount: int
    amount_received: int
    refunded: int
    currency: str
    workflow_id: str | None


class Difference(BaseModel):
    object_type: str
    object_id: str
    field: str
    ledger_value: str | None
    stripe_value: str | None


def compare_payments(ledger: list[LedgerPaymentView], stripe: list[StripeIntentView]) -> list[Difference]:
    """Every disagreement between payments in the ledger and PaymentIntents at Stripe."""
    by_intent = {p.intent_id: p for p in ledger if p.intent_id}
    seen: set[str] = set()
    out: list[Difference] = []
    for intent in stripe:
        row = by_intent.get(intent.intent_id)
        if row is None:
            if intent.workflow_id:  # created by billflow, yet never recorded
                out.append(
                    Difference(
                        object_type="payment_intent",
                        object_id=intent.intent_id,
                        field="missing_in_ledger",
                        ledger_value=None,
                        stripe_value=intent.status,
                    )
                )
            continue
        seen.add(intent.intent_id)
        checks = [
            ("amount", row.amount_minor, intent.amount),
            ("currency", row.currency.lower(), intent.currency.lower()),
            ("amount_captured", row.captured_minor, intent.amount_received),
            ("amount_refunded", row.refunded_minor, intent.refunded),
        ]
        out += [
            Difference(
                object_type="payment_intent",
                object_id=intent.intent_id,
                field=name,
                ledger_value=str(mine),
                stripe_value=str(theirs),
            )
            for name, mine, theirs in checks
            if mine != theirs
        ]
        if row.status not in PAYMENT_STATUS_MATCHES.get(intent.status, frozenset()):
            out.append(
                Difference(
                    object_type="payment_intent",
                    object_id=intent.intent_id,
                    field="status",
                    ledger_value=row.status,
                    stripe_value=intent.status,
                )
            )
    for intent_id, row in by_intent.items():
        if intent_id not in seen:
            out.append(
                Difference(
                    object_type="payment_intent",
                    object_id=intent_id,
                    field="missing_at_stripe",
                    ledger_value=row.status,
                    stripe_value=None,
                )
            )
    return out


class StatusView(BaseModel):
    object_id: str
    status: str
    amount_minor: int


def compare_statuses(
    object_type: str, ledger: list[StatusView], stripe: list[StatusView]
) -> list[Difference]:
    """Refunds, invoices and subscriptions: same status and amount on both sides."""
    theirs = {s.object_id: s for s in stripe}
    out: list[Difference] = []
    for row in ledger:
        other = theirs.get(row.object_id)
        if other is None:
            out.append(
                Difference(
                    object_type=object_type,
                    object_id=row.object_id,
                    field="missing_at_stripe",
                    ledger_value=row.status,
                    stripe_value=None,
                )
            )
            continue
        if row.status != other.status:
            out.append(
                Difference(
                    object_type=object_type,
                    object_id=row.object_id,
                    field="status",
                    ledger_value=row.status,
                    stripe_value=other.status,
                )
            )
        if row.amount_minor != other.amount_minor:
            out.append(
                Difference(
                    object_type=object_type,
                    object_id=row.object_id,
                    field="amount",
                    ledger_value=str(row.amount_minor),
                    stripe_value=str(other.amount_minor),
                )
            )
    return out
