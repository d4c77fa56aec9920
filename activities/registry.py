"""The one list of activities the worker registers, built from shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities import hello, notify
from activities.billing_ledger import BillingLedger
from activities.catalog import CatalogActivities
from activities.deps import Deps
from activities.invoices import InvoiceActivities
from activities.payments import PaymentActivities
from activities.payments_ledger import PaymentLedgerActivities
from activities.quotes import QuoteActivities
from activities.quotes_ledger import QuotesLedger
from activities.reconcile import ReconcileActivities
from activities.refunds import RefundActivities
from activities.subscriptions import SubscriptionActivities

__all__ = ["Deps", "all_activities"]


def all_activities(deps: Deps) -> list[Callable[..., Any]]:
    """Every activity, as plain functions or methods bound to classes built from `deps`."""
    reconcile = ReconcileActivities(deps)
    payments = PaymentActivities(deps.stripe)
    payments_ledger = PaymentLedgerActivities(deps.ledger)
    refunds = RefundActivities(deps.stripe)
    return [
        hello.greet,
        *notify.notify_activities(deps.settings, deps.ledger),
        reconcile.list_merchants,
        reconcile.reconcile_merchant,
        reconcile.sweep_stuck_runs,
        payments.create_intent,
        payments.retrieve_intent,
        payments.capture_intent,
        payments.cancel_intent,
        payments_ledger.record_payment,
        payments_ledger.reserve_refund,
        payments_ledger.settle_refund,
        refunds.create_refund,
        *quote_activities(deps),
        *SubscriptionActivities(deps.stripe).all(),
        *BillingLedger(deps.ledger).all(),
    ]


def quote_activities(deps: Deps) -> list[Callable[..., Any]]:
    """The quote flow's Stripe quote and invoice steps and its ledger writes."""
    quotes = QuoteActivities(deps.settings, deps.ledger, deps.stripe)
    invoices = InvoiceActivities(deps.stripe)
    ledger = QuotesLedger(deps.ledger)
    return [
        *(quotes.settings, quotes.customer, quotes.create, quotes.retrieve),
        *(quotes.finalize, quotes.accept, quotes.cancel),
        *(invoices.retrieve, invoices.finalize, invoices.pay, invoices.send),
        *(invoices.mark_uncollectible, invoices.void),
        *(ledger.record_quote, ledger.record_invoice),
        CatalogActivities(deps.stripe).write,
    ]
