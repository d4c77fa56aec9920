"""Visibility queries operators type in the UI, built from CLI filters."""

from __future__ import annotations

from billflow import search_attributes as sa


def _quote(value: str) -> str:
    if any(ch in value for ch in "\"'\\\n"):
        raise ValueError(f"filter value {value!r} contains quotes or backslashes")
    return f'"{value}"'


def build_query(
    *,
    flow: str | None = None,
    status: str | None = None,
    merchant: str | None = None,
    customer: str | None = None,
    running_only: bool = False,
) -> str:
    """A Temporal list filter such as `BillingFlow="payment" AND BillingStatus="awaiting_approval"`."""
    clauses = [f"{sa.BILLING_FLOW.name} IS NOT NULL"] if not (flow or status or merchant or customer) else []
    for key, value in (
        (sa.BILLING_FLOW.name, flow),
        (sa.BILLING_STATUS.name, status),
        (sa.MERCHANT_ID.name, merchant),
        (sa.CUSTOMER_ID.name, customer),
    ):
        if value:
            clauses.append(f"{key}={_quote(value)}")
    if running_only:
        clauses.append('ExecutionStatus="Running"')
    return " AND ".join(clauses)
