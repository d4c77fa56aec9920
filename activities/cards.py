"""Stripe side of saved cards: customers, SetupIntents (with 3-D Secure), card details, default, detach."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from stripe.params import CustomerCreateParams, SetupIntentCreateParams
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors


class CreateCustomerInput(BaseModel):
    merchant_id: str
    user_id: str
    email: str | None = None
    name: str | None = None
    test_clock: str | None = None  # tests only: the customer's subscriptions run on this clock
    idempotency_key: str


class SetupCardInput(BaseModel):
    merchant_id: str
    workflow_id: str
    customer_id: str
    payment_method_id: str
    return_url: str | None = None
    idempotency_key: str


class SetupIntentRef(BaseModel):
    merchant_id: str
    setup_intent_id: str


class SetupIntentView(BaseModel):
    id: str
    status: str
    payment_method_id: str | None = None
    redirect_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class PaymentMethodRef(BaseModel):
    merchant_id: str
    payment_method_id: str


class CardDetails(BaseModel):
    payment_method_id: str
    customer_id: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None


class SetDefaultInput(BaseModel):
    merchant_id: str
    customer_id: str
    payment_method_id: str
    idempotency_key: str


class DetachInput(BaseModel):
    merchant_id: str
    payment_method_id: str
    idempotency_key: str


def _si_view(data: dict[str, Any]) -> SetupIntentView:
    action = data.get("next_action") or {}
    redirect = (action.get("redirect_to_url") or {}).get("url")
    if redirect is None and action:
        redirect = (action.get("use_stripe_sdk") or {}).get("stripe_js") or None
    error = data.get("last_setup_error") or {}
    pm = data.get("payment_method")
    return SetupIntentView(
        id=data["id"],
        status=data["status"],
        payment_method_id=pm.get("id") if isinstance(pm, dict) else pm,
        redirect_url=redirect,
        error_code=error.get("code"),
        error_message=error.get("message"),
    )


class CardActivities:
    """Stripe calls of SaveCardWorkflow and the card commands."""

    def __init__(self, clients: StripeClients) -> None:
        self._clients = clients

    @activity.defn(name="cards.create_customer")
    async def create_customer(self, data: CreateCustomerInput) -> str:
        """Create the user's Stripe customer; the key derives from merchant and user, so one per user."""
        client = await self._clients.for_merchant(data.merchant_id)
        params: CustomerCreateParams = {"metadata": {"billflow_user_id": data.user_id}}
        if data.email:
            params["email"] = data.email
        if data.name:
            params["name"] = data.name
        if data.test_clock:
            params["test_clock"] = data.test_clock
        with stripe_errors():
            customer = await client.v1.customers.create_async(
                params, {"idempotency_key": data.idempotency_key}
            )
        return customer.id

    @activity.defn(name="cards.setup_card")
    async def setup_card(self, data: SetupCardInput) -> SetupIntentView:
        """Confirm a SetupIntent for off-session use; 3-D Secure leaves it `requires_action`."""
        client = await self._clients.for_merchant(data.merchant_id)
        params: SetupIntentCreateParams = {
            "customer": data.customer_id,
            "payment_method": data.payment_method_id,
            "confirm": True,
            "usage": "off_session",
            "allowed_payment_method_types": ["card"],  # endive name of payment_method_types
            "metadata": {"workflow_id": data.workflow_id},
        }
        if data.return_url:
            params["return_url"] = data.return_url
        with stripe_errors():
            si = await client.v1.setup_intents.create_async(params, {"idempotency_key": data.idempotency_key})
        return _si_view(si.to_dict())

    @activity.defn(name="cards.get_setup_intent")
    async def get_setup_intent(self, data: SetupIntentRef) -> SetupIntentView:
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            si = await client.v1.setup_intents.retrieve_async(data.setup_intent_id)
        return _si_view(si.to_dict())

    @activity.defn(name="cards.card_details")
    async def card_details(self, data: PaymentMethodRef) -> CardDetails:
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            pm = await client.v1.payment_methods.retrieve_async(data.payment_method_id)
        card = pm.card
        assert card is not None
        customer = pm.customer
        return CardDetails(
            payment_method_id=pm.id,
            customer_id=customer if isinstance(customer, str) or customer is None else customer.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            fingerprint=card.fingerprint,
        )

    @activity.defn(name="cards.set_default")
    async def set_default(self, data: SetDefaultInput) -> None:
        """Make the card the customer's default for invoices and subscriptions."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            await client.v1.customers.update_async(
                data.customer_id,
                {"invoice_settings": {"default_payment_method": data.payment_method_id}},
                {"idempotency_key": data.idempotency_key},
            )

    @activity.defn(name="cards.detach")
    async def detach(self, data: DetachInput) -> None:
        """Detach a card at Stripe (permanent); an already detached card is fine."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            pm = await client.v1.payment_methods.retrieve_async(data.payment_method_id)
            if pm.customer is None:
                return
            await client.v1.payment_methods.detach_async(
                data.payment_method_id, None, {"idempotency_key": data.idempotency_key}
            )

    def all(self) -> list[Any]:
        return [
            self.create_customer,
            self.setup_card,
            self.get_setup_intent,
            self.card_details,
            self.set_default,
            self.detach,
        ]
