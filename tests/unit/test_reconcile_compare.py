"""Reconciliation's comparison names every disagreement and nothing else."""

from __future__ import annotations

from billflow.reconcile import (
    LedgerPaymentView,
    StatusView,
    StripeIntentView,
    compare_payments,
    compare_statuses,
)


def _row(intent: str, status: str = "completed", captured: int = 500, refunded: int = 0) -> LedgerPaymentView:
    return LedgerPaymentView(
        payment_id=f"pay_{intent}",
        intent_id=intent,
        status=status,
        amount_minor=500,
        captured_minor=captured,
        refunded_minor=refunded,
        currency="usd",
    )


def _pi(
    intent: str,
    status: str = "succeeded",
    received: int = 500,
    refunded: int = 0,
    wid: str | None = "payment/m/k",
) -> StripeIntentView:
    return StripeIntentView(
        intent_id=intent,
        status=status,
        amount=500,
        amount_received=received,
        refunded=refunded,
        currency="usd",
        workflow_id=wid,
    )


def test_matching_sides_have_no_differences() -> None:
    assert (
        compare_payments(
            [_row("pi_1"), _row("pi_2", "failed", captured=0)],
            [_pi("pi_1"), _pi("pi_2", "requires_payment_method", received=0)],
        )
        == []
    )


def test_each_kind_of_difference_is_reported() -> None:
    diffs = compare_payments(
        [_row("pi_1", refunded=0), _row("pi_2", status="pending"), _row("pi_gone")],
        [_pi("pi_1", refunded=200), _pi("pi_2"), _pi("pi_new"), _pi("pi_foreign", wid=None)],
    )
    found = {(d.object_id, d.field) for d in diffs}
    assert found == {
        ("pi_1", "amount_refunded"),
        ("pi_2", "status"),
        ("pi_new", "missing_in_ledger"),
        ("pi_gone", "missing_at_stripe"),
    }


def test_status_comparison() -> None:
    ledger = [
        StatusView(object_id="in_1", status="paid", amount_minor=900),
        StatusView(object_id="in_2", status="open", amount_minor=0),
        StatusView(object_id="in_3", status="paid", amount_minor=100),
    ]
    stripe = [
        StatusView(object_id="in_1", status="paid", amount_minor=900),
        StatusView(object_id="in_2", status="paid", amount_minor=50),
    ]
    found = {(d.object_id, d.field) for d in compare_statuses("invoice", ledger, stripe)}
    assert found == {("in_2", "status"), ("in_2", "amount"), ("in_3", "missing_at_stripe")}
