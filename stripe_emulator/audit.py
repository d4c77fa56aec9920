"""Money-movement audit trail: every charge, capture and refund with its idempotency key."""

from __future__ import annotations

from stripe_emulator.context import Ctx
from stripe_emulator.store import AuditEntry


def record(
    ctx: Ctx,
    kind: str,
    object_id: str,
    payment_intent: str | None,
    amount: int,
    currency: str,
    status: str,
) -> None:
    ctx.account.audit.append(
        AuditEntry(
            kind=kind,
            object_id=object_id,
            payment_intent=payment_intent,
            amount=amount,
            currency=currency,
            idempotency_key=ctx.idempotency_key,
            request_id=ctx.request_id,
            created=ctx.now,
            status=status,
        )
    )
