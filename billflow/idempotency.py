"""Deterministic ids: workflow ids from request keys, Stripe idempotency keys from workflow steps."""

from __future__ import annotations

import hashlib


def workflow_id(flow: str, merchant_id: str, idempotency_key: str) -> str:
    """The workflow id for a merchant request: the same key can only ever start one run."""
    return f"{flow}/{merchant_id}/{idempotency_key}"


def stripe_key(workflow_id: str, step: str, period: int | None = None) -> str:
    """The Idempotency-Key for one Stripe write of one workflow step.

    Derived only from the workflow id, a stable step name and the renewal period, never from the
    run id, the attempt or the clock: those change across retries, resets and continue-as-new.
    Hashed so it stays under Stripe's 255 characters and carries no merchant data.
    """
    material = f"{workflow_id}\x1f{step}\x1f{'' if period is None else period}"
    return "bf_" + hashlib.sha256(material.encode()).hexdigest()
