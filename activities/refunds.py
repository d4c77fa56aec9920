"""Stripe refunds: one create per refund workflow, with the workflow's idempotency key."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.payments import CreateRefundInput, RefundView


class RefundActivities:
    """Creates refunds against a payment's PaymentIntent; Stripe refuses more than is left."""

    def __init__(self, clients: StripeClients) -> None:
        self._clients = clients

    @activity.defn(name="refunds.create_refund")
    async def create_refund(self, data: CreateRefundInput) -> RefundView:
        """Refund `amount_minor` of the intent's charge (raises InvalidRequest on an over-refund)."""
        params: dict[str, Any] = {
            "payment_intent": data.payment_intent_id,
            "amount": data.amount_minor,
            "metadata": {
                "workflow_id": data.workflow_id,
                "merchant_id": data.merchant_id,
                "refund_id": data.refund_id,
                "payment_id": data.payment_id,
            },
        }
        if data.reason:
            params["reason"] = data.reason
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            refund = await client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": data.idempotency_key},
            )
        return RefundView(
            id=refund.id,
            status=refund.status or "pending",
            amount=refund.amount,
            currency=refund.currency,
            failure_reason=getattr(refund, "failure_reason", None),
        )
