"""What activities need, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

from activities.stripe_client import StripeClients
from billflow.config import Settings
from billflow.ledger.db import Ledger


@dataclass
class Deps:
    """Shared by every activity class: settings, the ledger and per-merchant Stripe clients."""

    settings: Settings
    ledger: Ledger
    stripe: StripeClients

    @classmethod
    def build(cls, settings: Settings) -> Deps:
        ledger = Ledger.from_url(settings.sqlalchemy_url)
        return cls(settings=settings, ledger=ledger, stripe=StripeClients(settings, ledger))
