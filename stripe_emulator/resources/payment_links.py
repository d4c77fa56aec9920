"""Payment links: create, retrieve, update, list, and their line items."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import missing_parameter, validation
from stripe_emulator.forms import as_bool, as_dict, as_int, as_list, metadata_update
from stripe_emulator.render import expand_params, includable, list_response, render
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object


def line_item(ctx: Ctx, price: Obj, quantity: int) -> Obj:
    """A checkout-style ``item`` (``li_``) for ``quantity`` × ``price``."""
    product = ctx.account.objects.get(price["product"]) or {}
    amount = int(price["unit_amount"]) * quantity
    item = new_object("item")
    item.update(
        id=ctx.new_id("li"),
        adjustable_quantity=None,
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=price["currency"],
        description=product.get("name"),
        price=render(ctx, price),
        quantity=quantity,
    )
    return item


def _items_list(items: list[Obj], url: str) -> Obj:
    return {"object": "list", "data": items, "has_more": False, "url": url}


@includable("payment_link", "line_items")
def _line_items(ctx: Ctx, link: Obj) -> Obj:
    return _items_list(link["_line_items"], f"/v1/payment_links/{link['id']}/line_items")


def _build_items(ctx: Ctx, params: dict[str, Any]) -> list[Obj]:
    raw = as_list(params, "line_items")
    if not raw:
        raise missing_parameter("line_items")
    items = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise validation("Invalid line_items", param="line_items")
        price = ctx.account.get("price", entry.get("price"), param=f"line_items[{i}][price]")
        qty = as_int(entry, "quantity", 1) or 1
        items.append(line_item(ctx, price, qty))
    return items


@route("POST", "/v1/payment_links", "PaymentLinkCreateParams")
def create_payment_link(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a payment link."""
    items = _build_items(ctx, params)
    link = new_object("payment_link")
    token = ctx.store.ids.token(14)
    after = as_dict(params, "after_completion") or {"type": "hosted_confirmation"}
    after_type = str(after.get("type", "hosted_confirmation"))
    link.update(
        id=ctx.new_id("plink"),
        active=True,
        after_completion={
            "hosted_confirmation": {"custom_message": None} if after_type == "hosted_confirmation" else None,
            "redirect": {"url": as_dict(after, "redirect").get("url")} if after_type == "redirect" else None,
            "type": after_type,
        },
        allow_promotion_codes=as_bool(params, "allow_promotion_codes"),
        automatic_tax={"enabled": False, "liability": None},
        billing_address_collection="auto",
        currency=items[0]["currency"],
        custom_fields=[],
        custom_text={"after_submit": None, "shipping_address": None, "submit": None, "terms_of_service_acceptance": None},
        customer_creation="if_required",
        invoice_creation={"enabled": False, "invoice_data": None},
        metadata=metadata_update({}, params),
        payment_method_collection="always",
        phone_number_collection={"enabled": False},
        shipping_options=[],
        submit_type="auto",
        tax_id_collection={"enabled": False, "required": "never"},
        url=f"https://buy.stripe.com/test_{token}",
        _line_items=items,
    )
    ctx.account.add(link)
    ctx.emit("payment_link.created", link)
    return render(ctx, link, expand_params(params))


@route("GET", "/v1/payment_links/{link_id}", "PaymentLinkRetrieveParams")
def retrieve_payment_link(ctx: Ctx, params: dict[str, Any], link_id: str) -> Obj:
    """Retrieve a payment link."""
    return render(ctx, ctx.account.get("payment_link", link_id), expand_params(params))


@route("POST", "/v1/payment_links/{link_id}", "PaymentLinkModifyParams")
def update_payment_link(ctx: Ctx, params: dict[str, Any], link_id: str) -> Obj:
    """Update (e.g. deactivate) a payment link."""
    link = ctx.account.get("payment_link", link_id)
    before = {k: v for k, v in link.items() if not k.startswith("_")}
    if "active" in params:
        link["active"] = as_bool(params, "active")
    if "line_items" in params:
        link["_line_items"] = _build_items(ctx, params)
    if "inactive_message" in params:
        link["inactive_message"] = params["inactive_message"] or None
    link["metadata"] = metadata_update(link["metadata"], params)
    ctx.emit_update("payment_link.updated", link, before)
    return render(ctx, link, expand_params(params))


@route("GET", "/v1/payment_links/{link_id}/line_items", "PaymentLinkLineItemListParams")
def list_payment_link_line_items(ctx: Ctx, params: dict[str, Any], link_id: str) -> Obj:
    """List a payment link's line items."""
    link = ctx.account.get("payment_link", link_id)
    return list_response(ctx, link["_line_items"], params, f"/v1/payment_links/{link_id}/line_items")


@route("GET", "/v1/payment_links", "PaymentLinkListParams")
def list_payment_links(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List payment links."""
    active = params.get("active")
    items = (p for p in ctx.account.of_kind("payment_link") if active in (None, "") or p["active"] == (active == "true"))
    return list_response(ctx, items, params, "/v1/payment_links", expand_params(params))
