"""The one list of activities the worker registers, built from shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activities import hello, notify
from activities.catalog import CatalogActivities
from activities.invoices import InvoiceActivities
from activities.quotes import QuoteActivities
from activities.quotes_ledger import QuotesLedger
from activities.stripe_client import StripeClients
from billflow.config import Settings
from billflow.ledger.db import Ledger


@dataclass
class Deps:
    """What activities need, built once per worker process."""

    settings: Settings
    ledger: Ledger
    stripe: StripeClients

    @classmethod
    def build(cls, settings: Settings) -> Deps:
        ledger = Ledger.from_url(settings.sqlalchemy_url)
        return cls(settings=settings, ledger=ledger, stripe=StripeClients(settings, ledger))


def all_activities(deps: Deps) -> list[Callable[..., Any]]:
    """Every activity, as plain functions or methods bound to classes built from `deps`."""
    return [
        hello.greet,
        *notify.notify_activities(deps.settings, deps.ledger),
        *quote_activities(deps),
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
