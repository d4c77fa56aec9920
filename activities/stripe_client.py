"""Stripe clients per merchant: the key comes from the ledger, never from workflow input."""

from __future__ import annotations

import asyncio

import stripe
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from activities.rate_limit import REQUEST_SECONDS, RateLimitedHTTPXClient, StripeRateLimiter
from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger import Merchant
from billflow.ledger.db import Ledger


def make_client(
    secret_key: str, api_base: str | None, http_client: stripe.HTTPClient | None = None
) -> stripe.StripeClient:
    """A Stripe client that never retries by itself: Temporal owns retries (every attempt is visible)."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
        http_client=http_client or stripe.HTTPXClient(timeout=REQUEST_SECONDS),
    )


class StripeClients:
    """Builds and caches one client per merchant key so connections are reused."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self._settings = settings
        self._ledger = ledger
        self._box = SecretBox(settings.encryption_key.get_secret_value())
        self._cache: dict[str, stripe.StripeClient] = {}
        rate = settings.stripe_rate_limit_per_second
        self._limiter = StripeRateLimiter(ledger, rate) if rate > 0 else None

    def secret_key(self, merchant_id: str) -> str:
        with self._ledger.session() as session:
            merchant = session.scalar(select(Merchant).where(Merchant.id == merchant_id))
        if merchant is None or merchant.stripe_secret_key_enc is None:
            raise ApplicationError(
                f"merchant {merchant_id} has no Stripe credentials",
                type="MerchantNotConfigured",
                non_retryable=True,
            )
        return self._box.decrypt(merchant.stripe_secret_key_enc)

    async def for_merchant(self, merchant_id: str) -> stripe.StripeClient:
        # The key is read on every call (a rotated key applies at once), off the event loop so
        # the worker's other activities do not wait for the database.
        key = await asyncio.to_thread(self.secret_key, merchant_id)
        client = self._cache.get(key)
        if client is None:
            http = (
                RateLimitedHTTPXClient(self._limiter, merchant_id, timeout=REQUEST_SECONDS)
                if self._limiter is not None
                else None
            )
            client = self._cache[key] = make_client(key, self._settings.stripe_api_base, http)
        return client
