"""The one generic Stripe write activity: an operation name becomes one async SDK call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import stripe
from pydantic import BaseModel
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.catalog import OPERATIONS

Call = Callable[[stripe.StripeClient, str | None, Any, Any], Awaitable[stripe.StripeObject]]


class StripeWriteActivityInput(BaseModel):
    merchant_id: str
    workflow_id: str
    operation: str
    target_id: str | None = None
    params: dict[str, Any]
    idempotency_key: str


def _t(target: str | None) -> str:
    assert target is not None
    return target


CALLS: dict[str, Call] = {
    "customers.create": lambda c, t, p, o: c.v1.customers.create_async(p, o),
    "customers.update": lambda c, t, p, o: c.v1.customers.update_async(_t(t), p, o),
    "customers.delete": lambda c, t, p, o: c.v1.customers.delete_async(_t(t), None, o),
    "products.create": lambda c, t, p, o: c.v1.products.create_async(p, o),
    "products.delete": lambda c, t, p, o: c.v1.products.delete_async(_t(t), None, o),
    "prices.create_one_time": lambda c, t, p, o: c.v1.prices.create_async(p, o),
    "prices.create_recurring": lambda c, t, p, o: c.v1.prices.create_async(p, o),
    "payment_links.create": lambda c, t, p, o: c.v1.payment_links.create_async(p, o),
    "refunds.create": lambda c, t, p, o: c.v1.refunds.create_async(p, o),
    "payment_intents.confirm": lambda c, t, p, o: c.v1.payment_intents.confirm_async(_t(t), p, o),
    "payment_intents.capture": lambda c, t, p, o: c.v1.payment_intents.capture_async(_t(t), p, o),
    "payment_intents.cancel": lambda c, t, p, o: c.v1.payment_intents.cancel_async(_t(t), p, o),
    "payment_methods.attach": lambda c, t, p, o: c.v1.payment_methods.attach_async(_t(t), p, o),
    "payment_methods.detach": lambda c, t, p, o: c.v1.payment_methods.detach_async(_t(t), None, o),
    "invoices.finalize": lambda c, t, p, o: c.v1.invoices.finalize_invoice_async(_t(t), None, o),
    "invoices.pay": lambda c, t, p, o: c.v1.invoices.pay_async(_t(t), None, o),
    "invoices.void": lambda c, t, p, o: c.v1.invoices.void_invoice_async(_t(t), None, o),
}
assert CALLS.keys() == OPERATIONS.keys(), "every catalogue operation needs exactly one SDK call"


class CatalogActivities:
    def __init__(self, stripe_clients: StripeClients) -> None:
        self._stripe = stripe_clients

    @activity.defn(name="stripe.write")
    async def write(self, data: StripeWriteActivityInput) -> dict[str, Any]:
        """Validate the params again (a boundary), call Stripe once with the workflow's key."""
        op = OPERATIONS[data.operation]
        params = op.params.model_validate(data.params).to_stripe()
        if op.tags_metadata:
            params["metadata"] = {**params.get("metadata", {}), "workflow_id": data.workflow_id}
        client = await self._stripe.for_merchant(data.merchant_id)
        with stripe_errors():
            obj = await CALLS[data.operation](
                client, data.target_id, params, {"idempotency_key": data.idempotency_key}
            )
        result: dict[str, Any] = obj.to_dict(recursive=True)
        return result
