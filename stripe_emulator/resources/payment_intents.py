"""PaymentIntents: create, confirm, capture, cancel, update, retrieve, list."""

from __future__ import annotations

from typing import Any

from stripe_emulator import charging
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, unexpected_state, validation
from stripe_emulator.forms import (
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    metadata_update,
)
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import (
    check_amount,
    currency,
    enum,
    required_int,
    str_fields,
)
from stripe_emulator.resources.customers import get_customer
from stripe_emulator.resources.payment_methods import resolve_payment_method
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
CANCEL_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def off_session_flag(params: dict[str, Any]) -> bool:
    value = params.get("off_session")
    if value in (None, "", "false"):
        return False
    if value in ("true", "one_off", "recurring"):
        return True
    raise validation("Invalid off_session: must be true, false, one_off or recurring", param="off_session")


def new_payment_intent(
    ctx: Ctx,
    *,
    amount: int,
    cur: str,
    customer: str | None,
    capture_method: str = "automatic",
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    payment_method_types: list[str] | None = None,
) -> Obj:
    pi = new_object("payment_intent")
    pi_id = ctx.new_id("pi")
    pi.update(
        id=pi_id,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        automatic_payment_methods=None if payment_method_types else {"allow_redirects": "always", "enabled": True},
        capture_method=capture_method,
        client_secret=f"{pi_id}_secret_{ctx.store.ids.token(25)}",
        confirmation_method="automatic",
        created=ctx.now,
        currency=cur,
        customer=customer,
        description=description,
        metadata=metadata or {},
        payment_method_configuration_details=None
        if payment_method_types
        else {"id": "pmc_emulator", "parent": None},
        payment_method_options={
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        payment_method_types=payment_method_types or ["card"],
        status="requires_payment_method",
        excluded_payment_method_types=None,
    )
    ctx.account.add(pi)
    return pi


def _apply_confirm_params(ctx: Ctx, pi: Obj, params: dict[str, Any]) -> bool:
    """Confirm-time params; returns the off_session flag."""
    off = off_session_flag(params)
    if "return_url" in params:
        pi["_return_url"] = as_str(params, "return_url")
    if "error_on_requires_action" in params:
        pi["_error_on_requires_action"] = as_bool(params, "error_on_requires_action")
    sfu = enum(params, "setup_future_usage", ("off_session", "on_session"), None)
    if sfu is not None:
        pi["setup_future_usage"] = sfu
    cm = enum(params, "capture_method", ("automatic", "automatic_async", "manual"), None)
    if cm is not None:
        pi["capture_method"] = cm
    pm_value = params.get("payment_method")
    pmd = as_dict(params, "payment_method_data")
    if pm_value:
        pm = resolve_payment_method(ctx, pm_value)
        pi["payment_method"] = pm["id"]
    elif pmd:
        from stripe_emulator.cards import token_number
        from stripe_emulator.resources.payment_methods import build_card_pm

        token = as_dict(pmd, "card").get("token")
        number = token_number(str(token)) if token else None
        if number is None:
            raise validation("payment_method_data[card][token] must be a test token", param="payment_method_data")
        pi["payment_method"] = build_card_pm(ctx, number)["id"]
    return off


def _run_confirm(ctx: Ctx, pi: Obj, off_session: bool) -> None:
    if pi["payment_method"] is None:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent with a new payment method, pass `payment_method`.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    pm = ctx.account.objects[pi["payment_method"]]
    if pm.get("_detached"):
        raise invalid_request("The provided PaymentMethod was detached from a Customer. It may not be used again.", param="payment_method")
    if pm.get("customer") is not None and pi.get("customer") is not None and pm["customer"] != pi["customer"]:
        raise invalid_request(
            "The provided PaymentMethod is attached to another customer.", param="payment_method"
        )
    error = charging.confirm(ctx, pi, pm, off_session=off_session)
    if error is not None:
        raise error


@route("POST", "/v1/payment_intents", "PaymentIntentCreateParams")
def create_payment_intent(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a PaymentIntent, optionally confirming it at once."""
    amount = required_int(params, "amount")
    cur = currency(params)
    check_amount(amount, cur)
    confirm = as_bool(params, "confirm")
    if not confirm:
        for name in ("off_session", "error_on_requires_action"):
            if params.get(name) not in (None, "", "false"):
                raise validation(f"You may only specify `{name}` when `confirm` is true.", param=name)
    customer = as_str(params, "customer")
    if customer is not None:
        get_customer(ctx, customer)
    capture_method = enum(params, "capture_method", ("automatic", "automatic_async", "manual"), "automatic")
    types = [str(t) for t in as_list(params, "allowed_payment_method_types")] or None
    pi = new_payment_intent(
        ctx,
        amount=amount,
        cur=cur,
        customer=customer,
        capture_method=capture_method or "automatic",
        description=as_str(params, "description"),
        metadata=metadata_update({}, params),
        payment_method_types=types,
    )
    str_fields(params, pi, ("receipt_email", "statement_descriptor", "statement_descriptor_suffix", "transfer_group"))
    off = _apply_confirm_params(ctx, pi, params)
    if pi["payment_method"] is not None:
        pi["status"] = "requires_confirmation"
    ctx.emit("payment_intent.created", pi)
    if confirm:
        _run_confirm(ctx, pi, off)
    return render(ctx, pi, expand_params(params))


@route("GET", "/v1/payment_intents/{pi_id}", "PaymentIntentRetrieveParams", ("client_secret",))
def retrieve_payment_intent(ctx: Ctx, params: dict[str, Any], pi_id: str) -> Obj:
    """Retrieve a PaymentIntent."""
    pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="intent")
    return render(ctx, pi, expand_params(params))


@route("POST", "/v1/payment_intents/{pi_id}", "PaymentIntentModifyParams")
def update_payment_intent(ctx: Ctx, params: dict[str, Any], pi_id: str) -> Obj:
    """Update an unconfirmed PaymentIntent."""
    pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="intent")
    editable = ("requires_payment_method", "requires_confirmation", "requires_action")
    money_fields = {"amount", "currency", "payment_method", "capture_method", "customer"}
    if pi["status"] not in editable and money_fields & set(params):
        raise unexpected_state(
            "payment_intent_unexpected_state",
            f"This PaymentIntent's {min(money_fields & set(params))} could not be updated "
            f"because it has a status of {pi['status']}.",
        )
    if "amount" in params:
        amount = required_int(params, "amount")
        check_amount(amount, pi["currency"])
        pi["amount"] = amount
    if "currency" in params:
        pi["currency"] = currency(params)
    if "customer" in params:
        cus = as_str(params, "customer")
        if cus is not None:
            get_customer(ctx, cus)
        pi["customer"] = cus
    str_fields(params, pi, ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix", "transfer_group"))
    pi["metadata"] = metadata_update(pi["metadata"], params)
    sfu = params.get("setup_future_usage")
    if sfu is not None:
        pi["setup_future_usage"] = sfu or None
    cm = enum(params, "capture_method", ("automatic", "automatic_async", "manual"), None)
    if cm is not None:
        pi["capture_method"] = cm
    if params.get("payment_method"):
        pm = resolve_payment_method(ctx, params["payment_method"])
        pi["payment_method"] = pm["id"]
        if pi["status"] == "requires_payment_method":
            pi["status"] = "requires_confirmation"
    return render(ctx, pi, expand_params(params))


@route("POST", "/v1/payment_intents/{pi_id}/confirm", "PaymentIntentConfirmParams")
def confirm_payment_intent(ctx: Ctx, params: dict[str, Any], pi_id: str) -> Obj:
    """Confirm a PaymentIntent."""
    pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="intent")
    if pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            "payment_intent_unexpected_state",
            f"This PaymentIntent's status is {pi['status']}, but the PaymentIntent must have one of "
            "the following statuses to be confirmed: requires_payment_method, requires_confirmation, "
            "requires_action.",
        )
    pi["metadata"] = metadata_update(pi["metadata"], params)
    off = _apply_confirm_params(ctx, pi, params)
    _run_confirm(ctx, pi, off)
    return render(ctx, pi, expand_params(params))


@route("POST", "/v1/payment_intents/{pi_id}/capture", "PaymentIntentCaptureParams")
def capture_payment_intent(ctx: Ctx, params: dict[str, Any], pi_id: str) -> Obj:
    """Capture an authorised PaymentIntent, fully or partially."""
    pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="intent")
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            "payment_intent_unexpected_state",
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
        )
    amount = as_int(params, "amount_to_capture", pi["amount_capturable"])
    assert amount is not None
    if amount > pi["amount_capturable"]:
        raise invalid_request(
            f"The amount to capture ({amount}) must be less than or equal to the amount "
            f"capturable ({pi['amount_capturable']}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    if amount <= 0:
        raise validation("This value must be greater than 0.", param="amount_to_capture")
    pi["metadata"] = metadata_update(pi["metadata"], params)
    charging.capture(ctx, pi, amount)
    return render(ctx, pi, expand_params(params))


@route("POST", "/v1/payment_intents/{pi_id}/cancel", "PaymentIntentCancelParams")
def cancel_payment_intent(ctx: Ctx, params: dict[str, Any], pi_id: str) -> Obj:
    """Cancel a PaymentIntent, releasing held funds."""
    pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="intent")
    reason = enum(params, "cancellation_reason", CANCEL_REASONS, None)
    if pi["status"] not in CANCELABLE:
        raise unexpected_state(
            "payment_intent_unexpected_state",
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only "
            "a PaymentIntent with one of the following statuses may be canceled: "
            + ", ".join(CANCELABLE)
            + ".",
        )
    cancel(ctx, pi, reason)
    return render(ctx, pi, expand_params(params))


def cancel(ctx: Ctx, pi: Obj, reason: str | None) -> None:
    if pi["status"] == "requires_capture":
        ch = ctx.account.objects[pi["latest_charge"]]
        ch.update(amount_refunded=ch["amount"], refunded=True)
        ctx.emit("charge.refunded", ch)
    pi.update(
        status="canceled",
        canceled_at=ctx.now,
        cancellation_reason=reason,
        amount_capturable=0,
        next_action=None,
    )
    ctx.emit("payment_intent.canceled", pi)


@route("GET", "/v1/payment_intents", "PaymentIntentListParams")
def list_payment_intents(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List PaymentIntents, optionally for one customer."""
    cus = as_str(params, "customer")
    items = (pi for pi in ctx.account.of_kind("payment_intent") if cus is None or pi["customer"] == cus)
    return list_response(ctx, items, params, "/v1/payment_intents", expand_params(params))


