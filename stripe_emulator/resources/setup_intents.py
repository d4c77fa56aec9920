"""SetupIntents: save a card for later (off-session) use, with 3DS when the card needs it."""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import NO_AUTH, spec_for
from stripe_emulator.charging import redirect_action
from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError, invalid_request, unexpected_state
from stripe_emulator.forms import as_bool, as_list, as_str, metadata_update
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import enum, str_fields
from stripe_emulator.resources.customers import get_customer
from stripe_emulator.resources.payment_methods import resolve_payment_method
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

CANCEL_REASONS = ("abandoned", "duplicate", "requested_by_customer")
AUTH_FAILURE_MESSAGE = (
    "The latest attempt to set up the payment method has failed because authentication failed."
)


def _apply(ctx: Ctx, si: Obj, params: dict[str, Any]) -> None:
    if "customer" in params:
        cus = as_str(params, "customer")
        if cus is not None:
            get_customer(ctx, cus)
        si["customer"] = cus
    if params.get("payment_method"):
        pm = resolve_payment_method(ctx, params["payment_method"])
        si["payment_method"] = pm["id"]
        if si["status"] == "requires_payment_method":
            si["status"] = "requires_confirmation"
    if "return_url" in params:
        si["_return_url"] = as_str(params, "return_url")
    str_fields(params, si, ("description",))
    si["metadata"] = metadata_update(si["metadata"], params)


def _confirm(ctx: Ctx, si: Obj) -> None:
    if si["payment_method"] is None:
        raise invalid_request(
            "You cannot confirm this SetupIntent because it's missing a payment method. To confirm "
            "the SetupIntent with a new payment method, pass `payment_method`.",
            param="payment_method",
            code="setup_intent_unexpected_state",
        )
    pm = ctx.account.objects[si["payment_method"]]
    spec = spec_for(pm["_number"])
    si["latest_attempt"] = ctx.new_id("setatt")
    if spec.attach_decline is not None:
        d = spec.attach_decline
        si.update(
            status="requires_payment_method",
            payment_method=None,
            last_setup_error={
                "type": "card_error",
                "code": d.code,
                "decline_code": d.decline_code,
                "message": d.message,
                "doc_url": f"https://stripe.com/docs/error-codes/{d.code.replace('_', '-')}",
                "payment_method": render(ctx, pm),
                "payment_method_type": "card",
            },
        )
        ctx.emit("setup_intent.setup_failed", si)
        raise StripeError(
            402,
            "card_error",
            d.message,
            code=d.code,
            decline_code=d.decline_code,
            extra={"setup_intent": render(ctx, si), "payment_method": render(ctx, pm), "payment_method_type": "card"},
        )
    if spec.auth != NO_AUTH:
        si.update(status="requires_action", next_action=redirect_action(ctx, si, si.get("_return_url")))
        ctx.emit("setup_intent.requires_action", si)
        return
    succeed_setup(ctx, si, pm)


def succeed_setup(ctx: Ctx, si: Obj, pm: Obj) -> None:
    si.update(status="succeeded", next_action=None, last_setup_error=None)
    pm["_setup"] = True
    if si.get("customer") and pm.get("customer") is None:
        pm["customer"] = si["customer"]
        ctx.emit("payment_method.attached", pm)
    ctx.emit("setup_intent.succeeded", si)


def complete_3ds(ctx: Ctx, si: Obj) -> None:
    succeed_setup(ctx, si, ctx.account.objects[si["payment_method"]])


def fail_3ds(ctx: Ctx, si: Obj) -> None:
    pm = ctx.account.objects.get(si["payment_method"] or "")
    si.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_setup_error={
            "type": "invalid_request_error",
            "code": "setup_intent_authentication_failure",
            "message": AUTH_FAILURE_MESSAGE,
            "doc_url": "https://stripe.com/docs/error-codes/setup-intent-authentication-failure",
            "payment_method": render(ctx, pm) if pm is not None else None,
            "payment_method_type": "card",
        },
    )
    ctx.emit("setup_intent.setup_failed", si)


@route("POST", "/v1/setup_intents", "SetupIntentCreateParams")
def create_setup_intent(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a SetupIntent, optionally confirming it."""
    types = [str(t) for t in as_list(params, "allowed_payment_method_types")] or None
    si = new_object("setup_intent")
    si_id = ctx.new_id("seti")
    si.update(
        id=si_id,
        automatic_payment_methods=None if types else {"allow_redirects": "always", "enabled": True},
        client_secret=f"{si_id}_secret_{ctx.store.ids.token(25)}",
        created=ctx.now,
        flow_directions=None,
        payment_method_configuration_details=None if types else {"id": "pmc_emulator", "parent": None},
        payment_method_options={"card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}},
        payment_method_types=types or ["card"],
        status="requires_payment_method",
        usage=enum(params, "usage", ("off_session", "on_session"), "off_session"),
        excluded_payment_method_types=None,
    )
    _apply(ctx, si, params)
    ctx.account.add(si)
    ctx.emit("setup_intent.created", si)
    if as_bool(params, "confirm"):
        _confirm(ctx, si)
    return render(ctx, si, expand_params(params))


@route("GET", "/v1/setup_intents/{si_id}", "SetupIntentRetrieveParams", ("client_secret",))
def retrieve_setup_intent(ctx: Ctx, params: dict[str, Any], si_id: str) -> Obj:
    """Retrieve a SetupIntent."""
    si = ctx.account.get("setup_intent", si_id, label="setupintent", param="intent")
    return render(ctx, si, expand_params(params))


@route("POST", "/v1/setup_intents/{si_id}", "SetupIntentModifyParams")
def update_setup_intent(ctx: Ctx, params: dict[str, Any], si_id: str) -> Obj:
    """Update a SetupIntent."""
    si = ctx.account.get("setup_intent", si_id, label="setupintent", param="intent")
    _apply(ctx, si, params)
    return render(ctx, si, expand_params(params))


@route("POST", "/v1/setup_intents/{si_id}/confirm", "SetupIntentConfirmParams")
def confirm_setup_intent(ctx: Ctx, params: dict[str, Any], si_id: str) -> Obj:
    """Confirm a SetupIntent."""
    si = ctx.account.get("setup_intent", si_id, label="setupintent", param="intent")
    if si["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise unexpected_state(
            "setup_intent_unexpected_state",
            f"You cannot confirm this SetupIntent because it has a status of {si['status']}.",
        )
    _apply(ctx, si, params)
    _confirm(ctx, si)
    return render(ctx, si, expand_params(params))


@route("POST", "/v1/setup_intents/{si_id}/cancel", "SetupIntentCancelParams")
def cancel_setup_intent(ctx: Ctx, params: dict[str, Any], si_id: str) -> Obj:
    """Cancel a SetupIntent."""
    si = ctx.account.get("setup_intent", si_id, label="setupintent", param="intent")
    if si["status"] in ("succeeded", "canceled", "processing"):
        raise unexpected_state(
            "setup_intent_unexpected_state",
            f"You cannot cancel this SetupIntent because it has a status of {si['status']}.",
        )
    si.update(status="canceled", cancellation_reason=enum(params, "cancellation_reason", CANCEL_REASONS, None), next_action=None)
    ctx.emit("setup_intent.canceled", si)
    return render(ctx, si, expand_params(params))


@route("GET", "/v1/setup_intents", "SetupIntentListParams")
def list_setup_intents(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List SetupIntents by customer or payment method."""
    cus = as_str(params, "customer")
    pm = as_str(params, "payment_method")
    items = (
        s
        for s in ctx.account.of_kind("setup_intent")
        if (cus is None or s["customer"] == cus) and (pm is None or s["payment_method"] == pm)
    )
    return list_response(ctx, items, params, "/v1/setup_intents", expand_params(params))
