"""PaymentMethods (cards): create from tokens or test numbers, attach, detach, list."""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import INCORRECT_NUMBER, luhn_ok, spec_for, token_number
from stripe_emulator.context import Ctx
from stripe_emulator.errors import (
    StripeError,
    invalid_request,
    missing_parameter,
    validation,
)
from stripe_emulator.forms import as_dict, as_int, as_str, metadata_update
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object


def card_error(
    ctx: Ctx, code: str, decline_code: str | None, message: str, extra: dict[str, Any] | None = None
) -> StripeError:
    return StripeError(
        402,
        "card_error",
        message,
        code=code,
        decline_code=decline_code,
        extra=extra,
    )


def fingerprint(ctx: Ctx, number: str) -> str:
    fp = ctx.account.fingerprints.get(number)
    if fp is None:
        fp = ctx.store.ids.token(16)
        ctx.account.fingerprints[number] = fp
    return fp


def build_card_pm(
    ctx: Ctx, number: str, exp_month: int = 12, exp_year: int | None = None, billing: dict[str, Any] | None = None
) -> Obj:
    """Create and store a new card PaymentMethod for ``number``."""
    spec = spec_for(number)
    year = exp_year if exp_year is not None else 2034
    pm = new_object("payment_method")
    details: dict[str, Any] = {
        "address": {
            "city": None,
            "country": None,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "email": None,
        "name": None,
        "phone": None,
        "tax_id": None,
    }
    if billing:
        for key in ("email", "name", "phone"):
            if key in billing:
                details[key] = billing[key] or None
        if isinstance(billing.get("address"), dict):
            details["address"].update(billing["address"])
    pm.update(
        id=ctx.new_id("pm"),
        allow_redisplay="unspecified",
        billing_details=details,
        card={
            "brand": spec.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked",
            },
            "country": spec.country,
            "display_brand": spec.brand,
            "exp_month": exp_month,
            "exp_year": year,
            "fingerprint": fingerprint(ctx, number),
            "funding": spec.funding,
            "generated_from": None,
            "last4": spec.last4,
            "networks": {"available": [spec.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": spec.three_d_secure != "not_supported"},
            "wallet": None,
        },
        created=ctx.now,
        customer=None,
        type="card",
        _number=number,
        _setup=spec.auth == "on_session",
        _detached=False,
    )
    ctx.account.add(pm)
    return pm


def resolve_payment_method(ctx: Ctx, value: Any, param: str = "payment_method") -> Obj:
    """A stored PM for ``value``; ``pm_card_*`` test tokens materialise a fresh PM."""
    if not isinstance(value, str) or not value:
        raise validation("Invalid payment method", param=param)
    number = token_number(value)
    if number is not None and value.startswith("pm_card_"):
        return build_card_pm(ctx, number)
    pm = ctx.account.objects.get(value)
    if pm is None or pm.get("object") != "payment_method":
        raise invalid_request(
            f"No such PaymentMethod: '{value}'", param=param, code="resource_missing", status=404
        )
    if pm.get("_detached"):
        raise invalid_request(
            "The provided PaymentMethod was previously used with a PaymentIntent without "
            "Customer attachment, shared with a connected account without Customer attachment, "
            "or was detached from a Customer. It may not be used again. To use a PaymentMethod "
            "multiple times, you must attach it to a Customer first.",
            param=param,
        )
    return pm


def attach(ctx: Ctx, pm: Obj, cus: Obj) -> None:
    """Attach ``pm`` to ``cus``; cards that always decline fail here (402)."""
    if pm.get("customer") == cus["id"]:
        return
    if pm.get("customer") is not None:
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    spec = spec_for(pm["_number"])
    if spec.attach_decline is not None:
        d = spec.attach_decline
        raise card_error(ctx, d.code, d.decline_code, d.message)
    pm["customer"] = cus["id"]
    ctx.emit("payment_method.attached", pm)


@route("POST", "/v1/payment_methods", "PaymentMethodCreateParams")
def create_payment_method(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a card PaymentMethod from ``card[token]`` or a raw test number."""
    kind = as_str(params, "type")
    if kind is None:
        raise missing_parameter("type")
    if kind != "card":
        raise validation(f"The payment method type `{kind}` is not supported by the emulator.", param="type")
    card = as_dict(params, "card")
    token = card.get("token")
    if token:
        number = token_number(str(token))
        if number is None:
            raise invalid_request(f"No such token: '{token}'", param="card[token]", code="resource_missing", status=404)
        exp_month, exp_year = 12, None
    else:
        raw = card.get("number")
        if not raw:
            raise missing_parameter("card[number]")
        number = str(raw).replace(" ", "")
        if not luhn_ok(number):
            d = INCORRECT_NUMBER
            raise StripeError(402, "card_error", d.message, code=d.code, param="card[number]")
        exp_month = as_int(card, "exp_month", 12) or 12
        exp_year = as_int(card, "exp_year", None)
        if exp_year is not None and exp_year < 100:
            exp_year += 2000
    billing = as_dict(params, "billing_details")
    pm = build_card_pm(ctx, number, exp_month, exp_year, billing)
    pm["metadata"] = metadata_update({}, params)
    if "allow_redisplay" in params:
        pm["allow_redisplay"] = params["allow_redisplay"]
    return render(ctx, pm, expand_params(params))


@route("GET", "/v1/payment_methods/{pm_id}", "PaymentMethodRetrieveParams")
def retrieve_payment_method(ctx: Ctx, params: dict[str, Any], pm_id: str) -> Obj:
    """Retrieve a PaymentMethod."""
    pm = ctx.account.get("payment_method", pm_id, label="PaymentMethod")
    return render(ctx, pm, expand_params(params))


@route("POST", "/v1/payment_methods/{pm_id}", "PaymentMethodModifyParams")
def update_payment_method(ctx: Ctx, params: dict[str, Any], pm_id: str) -> Obj:
    """Update metadata, billing details or expiry."""
    pm = ctx.account.get("payment_method", pm_id, label="PaymentMethod")
    before = {"metadata": dict(pm["metadata"]), "card": dict(pm["card"]), "billing_details": dict(pm["billing_details"])}
    pm["metadata"] = metadata_update(pm["metadata"], params)
    card = as_dict(params, "card")
    if card:
        pm["card"] = dict(pm["card"])
        for key in ("exp_month", "exp_year"):
            value = as_int(card, key)
            if value is not None:
                pm["card"][key] = value
    billing = as_dict(params, "billing_details")
    if billing:
        details = dict(pm["billing_details"])
        for key in ("email", "name", "phone"):
            if key in billing:
                details[key] = billing[key] or None
        pm["billing_details"] = details
    ctx.emit_update("payment_method.updated", pm, before)
    return render(ctx, pm, expand_params(params))


@route("POST", "/v1/payment_methods/{pm_id}/attach", "PaymentMethodAttachParams")
def attach_payment_method(ctx: Ctx, params: dict[str, Any], pm_id: str) -> Obj:
    """Attach a PaymentMethod to a customer."""
    from stripe_emulator.resources.customers import get_customer

    cus_id = as_str(params, "customer")
    if cus_id is None:
        raise missing_parameter("customer")
    pm = resolve_payment_method(ctx, pm_id, "payment_method")
    cus = get_customer(ctx, cus_id)
    attach(ctx, pm, cus)
    return render(ctx, pm, expand_params(params))


@route("POST", "/v1/payment_methods/{pm_id}/detach", "PaymentMethodDetachParams")
def detach_payment_method(ctx: Ctx, params: dict[str, Any], pm_id: str) -> Obj:
    """Detach a PaymentMethod from its customer, permanently."""
    pm = ctx.account.get("payment_method", pm_id, label="PaymentMethod")
    cus_id = pm.get("customer")
    if cus_id is None:
        raise invalid_request(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    pm["customer"] = None
    pm["_detached"] = True
    cus = ctx.account.objects.get(cus_id)
    if cus is not None and cus.get("invoice_settings", {}).get("default_payment_method") == pm["id"]:
        before = {"invoice_settings": dict(cus["invoice_settings"])}
        cus["invoice_settings"] = dict(cus["invoice_settings"], default_payment_method=None)
        ctx.emit_update("customer.updated", cus, before)
    ctx.emit("payment_method.detached", pm, {"customer": cus_id})
    return render(ctx, pm, expand_params(params))


@route("GET", "/v1/payment_methods", "PaymentMethodListParams")
def list_payment_methods(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List PaymentMethods, by customer and type."""
    cus_id = as_str(params, "customer")
    kind = as_str(params, "type")
    items = (
        pm
        for pm in ctx.account.of_kind("payment_method")
        if (cus_id is None or pm.get("customer") == cus_id)
        and (kind is None or pm["type"] == kind)
    )
    return list_response(ctx, items, params, "/v1/payment_methods", expand_params(params))
