"""The static details operators read on reconciliation runs."""

from __future__ import annotations

from workflows.reconcile import ReconcileInput, reconcile_details


def test_reconcile_details_name_the_scope_and_promise_no_money_moves() -> None:
    every = reconcile_details(ReconcileInput())
    assert "every merchant with Stripe credentials" in every
    assert "**Changes money**: never" in every
    some = reconcile_details(ReconcileInput(merchant_ids=["mer_a", "mer_b"], settle_seconds=60))
    assert "**Merchants**: mer_a, mer_b" in some and "60 s" in some
