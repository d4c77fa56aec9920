"""Stripe side of subscriptions: create or adopt, re-read for renewals, pay, update, cancel.

Every write takes its idempotency key from the workflow (`stripe_key(workflow_id, step, period)`)
and tags the Stripe object with `metadata[workflow_id]` so webhooks find the flow. Invoices made by
a subscription carry that metadata in `parent.subscription_details.metadata` (Stripe copies the
subscription's metadata there), which is where the webhook router finds invoice events' flow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import BaseModel
from stripe.params import (
    InvoiceListParams,
    InvoicePayParams,
    PriceCreateParams,
    SubscriptionCreateParams,
    SubscriptionUpdateParams,
)
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.subscriptions import InvoiceView, Plan, Proration, RenewalCheck, SubscriptionView


class CreateSubscriptionInput(BaseModel):
    merchant_id: str
    workflow_id: str
    customer_id: str
    plan: Plan
    payment_method_id: str | None = None
    trial_days: int | None = None
    product_name: str = "Subscription"
    product_key: str
    price_key: str
    subscription_key: str


class SubscriptionRef(BaseModel):
    merchant_id: str
    subscription_id: str


class CheckRenewalInput(BaseModel):
    merchant_id: str
    subscription_id: str
    created_since: datetime | None = None  # invoices created at or after this instant


class PayInvoiceInput(BaseModel):
    merchant_id: str
    invoice_id: str
    payment_method_id: str | None = None
    idempotency_key: str


class UpdateSubscriptionInput(BaseModel):
    merchant_id: str
    subscription_id: str
    idempotency_key: str
    workflow_id: str | None = None  # set metadata[workflow_id] (adoption)
    cancel_at_period_end: bool | None = None
    pause: bool | None = None  # True: pause collection (invoices voided), False: resume
    payment_method_id: str | None = None
    new_plan: Plan | None = None
    product_id: str | None = None  # for a new plan given as an amount
    proration_behavior: Proration = "create_prorations"
    price_key: str | None = None


class CancelSubscriptionInput(BaseModel):
    merchant_id: str
    subscription_id: str
    idempotency_key: str


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return str(value.get("id"))
    return str(value)


def invoice_view(data: dict[str, Any]) -> InvoiceView:
    lines = (data.get("lines") or {}).get("data") or []
    period = lines[-1].get("period") if lines else None
    parent = data.get("parent") or {}
    sub_details = parent.get("subscription_details") or {}
    return InvoiceView(
        id=data["id"],
        status=data.get("status") or "draft",
        billing_reason=data.get("billing_reason"),
        amount_due=data.get("amount_due") or 0,
        amount_paid=data.get("amount_paid") or 0,
        currency=data.get("currency") or "usd",
        attempt_count=data.get("attempt_count") or 0,
        created=_ts(data.get("created")) or datetime.now(UTC),
        period_start=_ts((period or {}).get("start")) or _ts(data.get("period_start")),
        period_end=_ts((period or {}).get("end")) or _ts(data.get("period_end")),
        customer_id=_id(data.get("customer")),
        subscription_id=_id(sub_details.get("subscription")),
    )


def subscription_view(data: dict[str, Any]) -> SubscriptionView:
    items = (data.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price = item.get("price") or {}
    recurring = price.get("recurring") or {}
    latest = data.get("latest_invoice")
    return SubscriptionView(
        id=data["id"],
        status=data["status"],
        customer_id=_id(data.get("customer")) or "",
        item_id=item.get("id"),
        price_id=price.get("id"),
        product_id=_id(price.get("product")),
        amount_minor=price.get("unit_amount"),
        currency=price.get("currency"),
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count") or 1,
        current_period_start=_ts(item.get("current_period_start")),
        current_period_end=_ts(item.get("current_period_end")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        paused=bool(data.get("pause_collection")),
        default_payment_method=_id(data.get("default_payment_method")),
        trial_end=_ts(data.get("trial_end")),
        latest_invoice=invoice_view(latest) if isinstance(latest, dict) else None,
    )


class SubscriptionActivities:
    """Stripe calls of SubscriptionWorkflow, with the merchant's client looked up per call."""

    def __init__(self, clients: StripeClients) -> None:
        self._clients = clients

    async def _price(
        self, client: stripe.StripeClient, plan: Plan, product_id: str, price_key: str, workflow_id: str
    ) -> str:
        assert plan.amount_minor is not None and plan.currency is not None
        params: PriceCreateParams = {
            "product": product_id,
            "unit_amount": plan.amount_minor,
            "currency": plan.currency.lower(),
            "recurring": {"interval": plan.interval, "interval_count": plan.interval_count},
            "metadata": {"workflow_id": workflow_id},
        }
        price = await client.v1.prices.create_async(params, {"idempotency_key": price_key})
        return price.id

    @activity.defn(name="subs.create_subscription")
    async def create_subscription(self, data: CreateSubscriptionInput) -> SubscriptionView:
        """Create the Stripe subscription (and its product and price when given as an amount)."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            price_id = data.plan.price_id
            if price_id is None:
                product = await client.v1.products.create_async(
                    {"name": data.product_name, "metadata": {"workflow_id": data.workflow_id}},
                    {"idempotency_key": data.product_key},
                )
                price_id = await self._price(client, data.plan, product.id, data.price_key, data.workflow_id)
            params: SubscriptionCreateParams = {
                "customer": data.customer_id,
                "items": [{"price": price_id}],
                "metadata": {"workflow_id": data.workflow_id},
                "payment_behavior": "allow_incomplete",
                "off_session": True,
                "expand": ["latest_invoice"],
            }
            if data.payment_method_id:
                params["default_payment_method"] = data.payment_method_id
            if data.trial_days:
                params["trial_period_days"] = data.trial_days
            sub = await client.v1.subscriptions.create_async(
                params, {"idempotency_key": data.subscription_key}
            )
        return subscription_view(sub.to_dict())

    @activity.defn(name="subs.get_subscription")
    async def get_subscription(self, data: SubscriptionRef) -> SubscriptionView:
        """Re-read a subscription (adoption, after a webhook)."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            sub = await client.v1.subscriptions.retrieve_async(
                data.subscription_id, {"expand": ["latest_invoice"]}
            )
        return subscription_view(sub.to_dict())

    @activity.defn(name="subs.check_renewal")
    async def check_renewal(self, data: CheckRenewalInput) -> RenewalCheck:
        """The subscription now, plus its invoices created since the period boundary (oldest first)."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            sub = await client.v1.subscriptions.retrieve_async(
                data.subscription_id, {"expand": ["latest_invoice"]}
            )
            params: InvoiceListParams = {"subscription": data.subscription_id, "limit": 10}
            if data.created_since is not None:
                params["created"] = {"gte": int(data.created_since.timestamp())}
            page = await client.v1.invoices.list_async(params)
        invoices = [invoice_view(inv.to_dict()) for inv in page.data]
        invoices.sort(key=lambda inv: inv.created)
        return RenewalCheck(subscription=subscription_view(sub.to_dict()), invoices=invoices)

    @activity.defn(name="subs.pay_invoice")
    async def pay_invoice(self, data: PayInvoiceInput) -> InvoiceView:
        """Retry an open invoice off-session; a decline raises CardDeclined (not retried by Temporal)."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.invoices.retrieve_async(data.invoice_id)
            if current.status != "open":  # paid meanwhile (webhook, Stripe's own retry) or voided
                return invoice_view(current.to_dict())
            pay: InvoicePayParams = {"off_session": True}
            if data.payment_method_id:
                pay["payment_method"] = data.payment_method_id
            invoice = await client.v1.invoices.pay_async(
                data.invoice_id, pay, {"idempotency_key": data.idempotency_key}
            )
        return invoice_view(invoice.to_dict())

    @activity.defn(name="subs.update_subscription")
    async def update_subscription(self, data: UpdateSubscriptionInput) -> SubscriptionView:
        """Cancel at period end, pause or resume collection, switch card or plan."""
        client = await self._clients.for_merchant(data.merchant_id)
        params: SubscriptionUpdateParams = {"expand": ["latest_invoice"]}
        if data.workflow_id is not None:
            params["metadata"] = {"workflow_id": data.workflow_id}
        if data.cancel_at_period_end is not None:
            params["cancel_at_period_end"] = data.cancel_at_period_end
        if data.pause is True:
            params["pause_collection"] = {"behavior": "void"}
        elif data.pause is False:
            params["pause_collection"] = ""
        if data.payment_method_id is not None:
            params["default_payment_method"] = data.payment_method_id
        with stripe_errors():
            if data.new_plan is not None:
                current = await client.v1.subscriptions.retrieve_async(data.subscription_id)
                item_id = current.items.data[0].id
                price_id = data.new_plan.price_id
                if price_id is None:
                    assert data.product_id is not None and data.price_key is not None
                    price_id = await self._price(
                        client, data.new_plan, data.product_id, data.price_key, data.workflow_id or ""
                    )
                params["items"] = [{"id": item_id, "price": price_id}]
                params["proration_behavior"] = data.proration_behavior
            sub = await client.v1.subscriptions.update_async(
                data.subscription_id, params, {"idempotency_key": data.idempotency_key}
            )
        return subscription_view(sub.to_dict())

    @activity.defn(name="subs.cancel_subscription")
    async def cancel_subscription(self, data: CancelSubscriptionInput) -> SubscriptionView:
        """Cancel now (an already canceled subscription is fine)."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            current = await client.v1.subscriptions.retrieve_async(data.subscription_id)
            if current.status in ("canceled", "incomplete_expired"):
                return subscription_view(current.to_dict())
            sub = await client.v1.subscriptions.cancel_async(
                data.subscription_id, None, {"idempotency_key": data.idempotency_key}
            )
        return subscription_view(sub.to_dict())

    def all(self) -> list[Any]:
        return [
            self.create_subscription,
            self.get_subscription,
            self.check_renewal,
            self.pay_invoice,
            self.update_subscription,
            self.cancel_subscription,
        ]
