"""Customers: create, retrieve, update, delete, list, and their saved payment methods."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, validation
from stripe_emulator.forms import as_dict, as_str, metadata_update
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import str_fields
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

_STRING_FIELDS = ("email", "name", "description", "phone")


def get_customer(ctx: Ctx, cus_id: Any, param: str = "customer") -> Obj:
    cus = ctx.account.get("customer", cus_id, param=param)
    if cus.get("deleted"):
        raise invalid_request(f"No such customer: '{cus_id}'", param=param, code="resource_missing", status=404)
    return cus


def _apply_default_pm(ctx: Ctx, cus: Obj, params: dict[str, Any]) -> None:
    settings = as_dict(params, "invoice_settings")
    if "default_payment_method" in settings:
        from stripe_emulator.resources.payment_methods import resolve_payment_method

        value = settings["default_payment_method"]
        if value == "":
            cus["invoice_settings"]["default_payment_method"] = None
            return
        pm = resolve_payment_method(ctx, value, "invoice_settings[default_payment_method]")
        if pm.get("customer") != cus["id"]:
            raise validation(
                f"No such PaymentMethod: '{value}'; It's possible this PaymentMethod exists on "
                "one of your connected accounts, in which case you should retry this request on "
                "that connected account.",
                param="invoice_settings[default_payment_method]",
            )
        cus["invoice_settings"]["default_payment_method"] = pm["id"]
    if "footer" in settings:
        cus["invoice_settings"]["footer"] = settings["footer"] or None


@route("POST", "/v1/customers", "CustomerCreateParams")
def create_customer(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a customer (optionally attaching a payment method and a test clock)."""
    cus = new_object("customer")
    cus.update(
        id=ctx.new_id("cus", 14),
        created=ctx.now,
        invoice_prefix=ctx.store.ids.hex(8).upper(),
        next_invoice_sequence=1,
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        preferred_locales=[],
        tax_exempt="none",
        delinquent=False,
        balance=0,
    )
    str_fields(params, cus, _STRING_FIELDS)
    cus["metadata"] = metadata_update({}, params)
    clock_id = as_str(params, "test_clock")
    if clock_id is not None:
        ctx.account.get("test_helpers.test_clock", clock_id, label="test clock", param="test_clock")
        cus["test_clock"] = clock_id
    ctx.account.add(cus)
    pm_value = as_str(params, "payment_method")
    if pm_value is not None:
        from stripe_emulator.resources.payment_methods import (
            attach,
            resolve_payment_method,
        )

        pm = resolve_payment_method(ctx, pm_value, "payment_method")
        attach(ctx, pm, cus)
        settings = as_dict(params, "invoice_settings")
        if settings.get("default_payment_method") == pm_value:
            params = dict(params)
            params["invoice_settings"] = dict(settings, default_payment_method=pm["id"])
    _apply_default_pm(ctx, cus, params)
    ctx.emit("customer.created", cus)
    return render(ctx, cus, expand_params(params))


@route("GET", "/v1/customers/{cus_id}", "CustomerRetrieveParams")
def retrieve_customer(ctx: Ctx, params: dict[str, Any], cus_id: str) -> Obj:
    """Retrieve a customer (deleted ones come back as stubs)."""
    cus = ctx.account.get("customer", cus_id)
    return render(ctx, cus, expand_params(params))


@route("POST", "/v1/customers/{cus_id}", "CustomerModifyParams")
def update_customer(ctx: Ctx, params: dict[str, Any], cus_id: str) -> Obj:
    """Update a customer's fields and default payment method."""
    cus = get_customer(ctx, cus_id, "id")
    before = {k: v for k, v in cus.items() if not k.startswith("_")}
    before["invoice_settings"] = dict(cus["invoice_settings"])
    str_fields(params, cus, _STRING_FIELDS)
    cus["metadata"] = metadata_update(cus["metadata"], params)
    _apply_default_pm(ctx, cus, params)
    ctx.emit_update("customer.updated", cus, before)
    return render(ctx, cus, expand_params(params))


@route("DELETE", "/v1/customers/{cus_id}", "CustomerDeleteParams")
def delete_customer(ctx: Ctx, params: dict[str, Any], cus_id: str) -> Obj:
    """Delete a customer, cancelling its subscriptions."""
    cus = get_customer(ctx, cus_id, "id")
    from stripe_emulator.billing import cancel_subscription_now

    for sub in list(ctx.account.of_kind("subscription")):
        if sub["customer"] == cus["id"] and sub["status"] not in ("canceled", "incomplete_expired"):
            cancel_subscription_now(ctx, sub)
    ctx.emit("customer.deleted", cus)
    stub = {"id": cus["id"], "object": "customer", "deleted": True}
    cus.clear()
    cus.update(stub)
    return dict(stub)


@route("GET", "/v1/customers", "CustomerListParams")
def list_customers(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List customers, filterable by email and test clock."""
    email = as_str(params, "email")
    clock = as_str(params, "test_clock")
    items = (
        c
        for c in ctx.account.of_kind("customer")
        if not c.get("deleted")
        and (email is None or c.get("email") == email)
        and (clock is None or c.get("test_clock") == clock)
    )
    return list_response(ctx, items, params, "/v1/customers", expand_params(params))


@route("GET", "/v1/customers/{cus_id}/payment_methods", "CustomerListPaymentMethodsParams")
def list_customer_payment_methods(ctx: Ctx, params: dict[str, Any], cus_id: str) -> Obj:
    """List the payment methods attached to a customer."""
    cus = get_customer(ctx, cus_id, "customer")
    kind = as_str(params, "type")
    items = (
        pm
        for pm in ctx.account.of_kind("payment_method")
        if pm.get("customer") == cus["id"] and (kind is None or pm["type"] == kind)
    )
    return list_response(
        ctx, items, params, f"/v1/customers/{cus_id}/payment_methods", expand_params(params)
    )


@route(
    "GET",
    "/v1/customers/{cus_id}/payment_methods/{pm_id}",
    "CustomerRetrievePaymentMethodParams",
)
def retrieve_customer_payment_method(
    ctx: Ctx, params: dict[str, Any], cus_id: str, pm_id: str
) -> Obj:
    """Retrieve one of a customer's payment methods."""
    cus = get_customer(ctx, cus_id, "customer")
    pm = ctx.account.get("payment_method", pm_id, label="PaymentMethod")
    if pm.get("customer") != cus["id"]:
        raise invalid_request(
            f"No such PaymentMethod: '{pm_id}'", param="payment_method", code="resource_missing", status=404
        )
    return render(ctx, pm, expand_params(params))
