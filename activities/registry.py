"""The one list of activities the worker registers, built from shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activities import hello, notify
from activities.billing_ledger import BillingLedger
from activities.cards import CardActivities
from activities.stripe_client import StripeClients
from activities.subscriptions import SubscriptionActivities
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
        *SubscriptionActivities(deps.stripe).all(),
        *BillingLedger(deps.ledger).all(),
        *CardActivities(deps.stripe).all(),
    ]
