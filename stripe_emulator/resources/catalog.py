"""Products and prices."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, validation
from stripe_emulator.forms import (
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    metadata_update,
)
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import currency, enum, required_str, str_fields
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

INTERVALS = ("day", "week", "month", "year")


def new_product(ctx: Ctx, name: str, params: dict[str, Any]) -> Obj:
    prod = new_object("product")
    prod.update(
        id=as_str(params, "id") or ctx.new_id("prod", 14),
        active=as_bool(params, "active", True),
        created=ctx.now,
        updated=ctx.now,
        images=[str(i) for i in as_list(params, "images")],
        marketing_features=[],
        name=name,
        type="service",
        metadata=metadata_update({}, params),
    )
    str_fields(params, prod, ("description", "statement_descriptor", "unit_label", "url", "tax_code"))
    ctx.account.add(prod)
    ctx.emit("product.created", prod)
    return prod


def new_price(ctx: Ctx, params: dict[str, Any], product_id: str | None = None) -> Obj:
    cur = currency(params)
    if product_id is None:
        product_id = as_str(params, "product")
        data = as_dict(params, "product_data")
        if product_id is None and data:
            product_id = new_product(ctx, required_str(data, "name"), data)["id"]
        if product_id is None:
            raise validation("Missing required param: product.", param="product", code="parameter_missing")
        ctx.account.get("product", product_id, param="product")
    amount = as_int(params, "unit_amount")
    if amount is None and params.get("unit_amount_decimal"):
        amount = int(float(str(params["unit_amount_decimal"])))
    if amount is None:
        raise validation("Missing required param: unit_amount.", param="unit_amount", code="parameter_missing")
    rec_params = as_dict(params, "recurring")
    recurring = None
    if rec_params:
        interval = enum(rec_params, "interval", INTERVALS, None)
        if interval is None:
            raise validation("Missing required param: recurring[interval].", param="recurring[interval]", code="parameter_missing")
        recurring = {
            "interval": interval,
            "interval_count": as_int(rec_params, "interval_count", 1),
            "meter": None,
            "trial_period_days": as_int(rec_params, "trial_period_days"),
            "usage_type": enum(rec_params, "usage_type", ("licensed", "metered"), "licensed"),
        }
    price = new_object("price")
    price.update(
        id=ctx.new_id("price"),
        active=as_bool(params, "active", True),
        billing_scheme="per_unit",
        created=ctx.now,
        currency=cur,
        lookup_key=as_str(params, "lookup_key"),
        metadata=metadata_update({}, params),
        nickname=as_str(params, "nickname"),
        product=product_id,
        recurring=recurring,
        tax_behavior=as_str(params, "tax_behavior") or "unspecified",
        type="recurring" if recurring else "one_time",
        unit_amount=amount,
        unit_amount_decimal=str(amount),
    )
    ctx.account.add(price)
    ctx.emit("price.created", price)
    return price


@route("POST", "/v1/products", "ProductCreateParams")
def create_product(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a product (optionally with a default price)."""
    prod = new_product(ctx, required_str(params, "name"), params)
    dpd = as_dict(params, "default_price_data")
    if dpd:
        price = new_price(ctx, dpd, prod["id"])
        prod["default_price"] = price["id"]
    return render(ctx, prod, expand_params(params))


@route("GET", "/v1/products/{prod_id}", "ProductRetrieveParams")
def retrieve_product(ctx: Ctx, params: dict[str, Any], prod_id: str) -> Obj:
    """Retrieve a product."""
    return render(ctx, ctx.account.get("product", prod_id), expand_params(params))


@route("POST", "/v1/products/{prod_id}", "ProductModifyParams")
def update_product(ctx: Ctx, params: dict[str, Any], prod_id: str) -> Obj:
    """Update a product."""
    prod = ctx.account.get("product", prod_id)
    before = {k: v for k, v in prod.items() if not k.startswith("_")}
    if "name" in params:
        prod["name"] = required_str(params, "name")
    if "active" in params:
        prod["active"] = as_bool(params, "active")
    if "default_price" in params:
        dp = as_str(params, "default_price")
        if dp is not None:
            price = ctx.account.get("price", dp, param="default_price")
            if price["product"] != prod["id"]:
                raise validation("The default price must belong to this product.", param="default_price")
        prod["default_price"] = dp
    str_fields(params, prod, ("description", "statement_descriptor", "unit_label", "url", "tax_code"))
    prod["metadata"] = metadata_update(prod["metadata"], params)
    prod["updated"] = ctx.now
    ctx.emit_update("product.updated", prod, before)
    return render(ctx, prod, expand_params(params))


@route("DELETE", "/v1/products/{prod_id}", "ProductDeleteParams")
def delete_product(ctx: Ctx, params: dict[str, Any], prod_id: str) -> Obj:
    """Delete a product that has no prices."""
    prod = ctx.account.get("product", prod_id)
    if any(p["product"] == prod["id"] for p in ctx.account.of_kind("price")):
        raise invalid_request(
            "This product cannot be deleted because it has one or more user-created prices.",
        )
    ctx.account.remove(prod["id"])
    ctx.emit("product.deleted", prod)
    return {"id": prod["id"], "object": "product", "deleted": True}


@route("GET", "/v1/products", "ProductListParams")
def list_products(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List products."""
    active = params.get("active")
    items = (p for p in ctx.account.of_kind("product") if active in (None, "") or p["active"] == (active == "true"))
    return list_response(ctx, items, params, "/v1/products", expand_params(params))


@route("POST", "/v1/prices", "PriceCreateParams")
def create_price(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a one-time or recurring price."""
    return render(ctx, new_price(ctx, params), expand_params(params))


@route("GET", "/v1/prices/{price_id}", "PriceRetrieveParams")
def retrieve_price(ctx: Ctx, params: dict[str, Any], price_id: str) -> Obj:
    """Retrieve a price."""
    return render(ctx, ctx.account.get("price", price_id), expand_params(params))


@route("POST", "/v1/prices/{price_id}", "PriceModifyParams")
def update_price(ctx: Ctx, params: dict[str, Any], price_id: str) -> Obj:
    """Update a price (active, nickname, lookup_key, metadata)."""
    price = ctx.account.get("price", price_id)
    before = {k: v for k, v in price.items() if not k.startswith("_")}
    if "active" in params:
        price["active"] = as_bool(params, "active")
    str_fields(params, price, ("nickname", "lookup_key"))
    price["metadata"] = metadata_update(price["metadata"], params)
    ctx.emit_update("price.updated", price, before)
    return render(ctx, price, expand_params(params))


@route("GET", "/v1/prices", "PriceListParams")
def list_prices(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List prices by product, type, currency, active, lookup keys."""
    product = as_str(params, "product")
    kind = as_str(params, "type")
    cur = as_str(params, "currency")
    active = params.get("active")
    keys = [str(k) for k in as_list(params, "lookup_keys")]
    items = (
        p
        for p in ctx.account.of_kind("price")
        if (product is None or p["product"] == product)
        and (kind is None or p["type"] == kind)
        and (cur is None or p["currency"] == cur)
        and (active in (None, "") or p["active"] == (active == "true"))
        and (not keys or p["lookup_key"] in keys)
    )
    return list_response(ctx, items, params, "/v1/prices", expand_params(params))
