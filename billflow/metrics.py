"""billflow's own Prometheus metrics (the Temporal SDK exports its metrics separately)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STRIPE_CALL_SECONDS = Histogram(
    "billflow_stripe_call_seconds", "Latency of Stripe API calls made by activities", ["operation", "outcome"]
)
STRIPE_ERRORS = Counter("billflow_stripe_errors_total", "Stripe errors by classified type", ["type"])
PAYMENTS = Counter("billflow_payments_total", "Payment state changes recorded in the ledger", ["status"])
WEBHOOK_LAG_SECONDS = Histogram(
    "billflow_webhook_lag_seconds", "Seconds between a Stripe event's creation and its ingestion"
)
API_REQUESTS = Counter("billflow_api_requests_total", "HTTP API requests", ["method", "route", "status"])
API_REQUEST_SECONDS = Histogram(
    "billflow_api_request_seconds", "HTTP API request latency", ["method", "route"]
)
