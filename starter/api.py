"""billflow's HTTP API for backend services (FastAPI).

`create_app(settings=..., ledger=..., temporal_client=...)` builds an app; tests inject a ledger and
a Temporal client, production lets both be made lazily from the settings. `app` is what uvicorn runs
(`uvicorn starter.api:app`). `GET /metrics` serves its request metrics to Prometheus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from temporalio.client import Client

from billflow.config import Settings, get_settings
from billflow.ledger.db import Ledger
from starter.deps import AppState
from starter.envelope import ERROR_RESPONSES, install_error_handlers
from starter.request_metrics import RequestMetrics, metrics_page
from starter.routes import (
    admin,
    cards,
    catalog,
    invoices,
    merchant,
    notifications,
    payments,
    providers,
    quotes,
    refunds,
    subscriptions,
    webhooks,
)


def create_app(
    settings: Settings | None = None, ledger: Ledger | None = None, temporal_client: Client | None = None
) -> FastAPI:
    """The API with every router, error handler and shared state."""
    state = AppState(settings or get_settings(), ledger, temporal_client)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    api = FastAPI(
        title="billflow",
        version="0.1.0",
        description="Stripe billing as durable Temporal workflows. Authenticate with `X-API-Key`.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    api.state.billflow = state
    install_error_handlers(api)

    @api.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    # Prometheus text, no API key (a scraper has none): counts and latencies by route template carry
    # no ids or merchant data. Kept out of the OpenAPI schema, which documents the merchant API.
    @api.get("/metrics", include_in_schema=False, response_class=Response)
    def metrics() -> Response:
        """Every metric of this process in Prometheus' text format."""
        return metrics_page()

    api.add_middleware(RequestMetrics)

    api.include_router(merchant.router)
    api.include_router(providers.router)
    api.include_router(notifications.router)
    api.include_router(webhooks.router)
    api.include_router(admin.router)
    # /v1/payments/cards must be matched before /v1/payments/{payment_id}
    api.include_router(cards.router)
    api.include_router(payments.router)
    api.include_router(refunds.router)
    api.include_router(quotes.router)
    api.include_router(invoices.router)
    api.include_router(catalog.router)
    api.include_router(subscriptions.router)
    return api


app = create_app()
