"""PaymentIntent calls: create-and-confirm, re-read, capture and cancel, each one Stripe request."""

from __future__ import annotations

from typing import Any

import stripe
from temporalio import activity

from activities.stripe_client import StripeClients
from activities.stripe_errors import stripe_errors
from billflow.payments import CancelIntentInput, CaptureIntentInput, CreateIntentInput, IntentRef, IntentView


def _field(obj: Any, name: str) -> Any:
    """Attribute access that tolerates fields a StripeObject does not carry."""
    try:
        return getattr(obj, name)
    except AttributeError:
        return None


def _id(value: Any) -> str | None:
    """An expandable field as its id, whether Stripe sent the id or the object."""
    if value is None or isinstance(value, str):
        return value
    return str(_field(value, "id"))


def intent_view(pi: stripe.PaymentIntent) -> IntentView:
    """The facts billflow acts on, taken from a PaymentIntent."""
    redirect_url = None
    next_action = _field(pi, "next_action")
    if next_action is not None:
        redirect = _field(next_action, "redirect_to_url")
        redirect_url = _field(redirect, "url") if redirect is not None else None
    error = _field(pi, "last_payment_error")
    return IntentView(
        id=pi.id,
        status=pi.status,
        amount=pi.amount,
        amount_capturable=_field(pi, "amount_capturable") or 0,
        amount_received=_field(pi, "amount_received") or 0,
        currency=pi.currency,
        customer=_id(_field(pi, "customer")),
        payment_method=_id(_field(pi, "payment_method")),
        latest_charge=_id(_field(pi, "latest_charge")),
        redirect_url=redirect_url,
        error_code=_field(error, "code") if error is not None else None,
        decline_code=_field(error, "decline_code") if error is not None else None,
        error_message=_field(error, "message") if error is not None else None,
    )


class PaymentActivities:
    """Stripe PaymentIntent writes and reads for the payment flow; keys come from the ledger."""

    def __init__(self, clients: StripeClients) -> None:
        self._clients = clients

    @activity.defn(name="payments.create_intent")
    async def create_intent(self, data: CreateIntentInput) -> IntentView:
        """Create and confirm the PaymentIntent in one request (a decline raises CardDeclined)."""
        params: dict[str, Any] = {
            "amount": data.amount_minor,
            "currency": data.currency,
            "payment_method": data.payment_method,
            "capture_method": data.capture_method,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
            "metadata": {
                **data.metadata,
                "workflow_id": data.workflow_id,
                "merchant_id": data.merchant_id,
                "payment_id": data.payment_id,
            },
        }
        if data.customer:
            params["customer"] = data.customer
        if data.off_session:
            params["off_session"] = True
        elif data.return_url:
            params["return_url"] = data.return_url
        if data.description:
            params["description"] = data.description
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            pi = await client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": data.idempotency_key},
            )
        return intent_view(pi)

    @activity.defn(name="payments.retrieve_intent")
    async def retrieve_intent(self, data: IntentRef) -> IntentView:
        """Re-read the intent: the only source of truth after a webhook, a return or a poll."""
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            pi = await client.v1.payment_intents.retrieve_async(data.payment_intent_id)
        return intent_view(pi)

    @activity.defn(name="payments.capture_intent")
    async def capture_intent(self, data: CaptureIntentInput) -> IntentView:
        """Capture all or part of an authorisation; Stripe releases the rest."""
        params: dict[str, Any] = {}
        if data.amount_minor is not None:
            params["amount_to_capture"] = data.amount_minor
        client = await self._clients.for_merchant(data.merchant_id)
        with stripe_errors():
            pi = await client.v1.payment_intents.capture_async(
                data.payment_intent_id,
                params,  # type: ignore[arg-type]
                {"idempotency_key": data.idempotency_key},
            )
        return intent_view(pi)

    @activity.defn(name="payments.cancel_intent")
    async def cancel_intent(self, data: CancelIntentInput) -> IntentView:
        """Cancel the intent, releasing any authorisation; an intent already final is returned as is."""
        client = await self._clients.for_merchant(data.merchant_id)
        try:
            with stripe_errors():
                pi = await client.v1.payment_intents.cancel_async(
                    data.payment_intent_id,
                    {"cancellation_reason": data.reason},
                    {"idempotency_key": data.idempotency_key},
                )
        except Exception:
            # Cancelling a succeeded or already canceled intent is refused; report what it is now.
            with stripe_errors():
                pi = await client.v1.payment_intents.retrieve_async(data.payment_intent_id)
            if pi.status not in ("succeeded", "canceled"):
                raise
        return intent_view(pi)
