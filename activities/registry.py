"""The one list of activities the worker registers, built from shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activities import hello, notify
from activities.payments import PaymentActivities
from activities.payments_ledger import PaymentLedgerActivities
from activities.refunds import RefundActivities
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
    payments = PaymentActivities(deps.stripe)
    payments_ledger = PaymentLedgerActivities(deps.ledger)
    refunds = RefundActivities(deps.stripe)
    return [
        hello.greet,
        *notify.notify_activities(deps.settings, deps.ledger),
        payments.create_intent,
        payments.retrieve_intent,
        payments.capture_intent,
        payments.cancel_intent,
        payments_ledger.record_payment,
        payments_ledger.reserve_refund,
        payments_ledger.settle_refund,
        refunds.create_refund,
    ]
