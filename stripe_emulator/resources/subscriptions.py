"""Subscriptions: create (first invoice paid at once), update, cancel, pause, resume, list."""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing
from stripe_emulator.context import Ctx
from stripe_emulator.errors import (
    StripeError,
    invalid_request,
    missing_parameter,
    validation,
)
from stripe_emulator.forms import (
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    metadata_update,
)
from stripe_emulator.periods import DAY
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.catalog import new_price
from stripe_emulator.resources.common import enum, str_fields
from stripe_emulator.resources.customers import get_customer
from stripe_emulator.resources.payment_methods import resolve_payment_method
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

COLLECTION = ("charge_automatically", "send_invoice")
BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
PRORATION = ("always_invoice", "create_prorations", "none")


def item_price(ctx: Ctx, spec: dict[str, Any], param: str) -> Obj:
    if spec.get("price"):
        price = ctx.account.get("price", spec["price"], param=f"{param}[price]")
    elif as_dict(spec, "price_data"):
        price = new_price(ctx, as_dict(spec, "price_data"))
    else:
        raise missing_parameter(f"{param}[price]")
    if price["type"] != "recurring":
        raise validation(
            "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
            param=f"{param}[price]",
        )
    return price


def create_subscription(
    ctx: Ctx,
    customer: Obj,
    items: list[tuple[Obj, int, dict[str, str]]],
    *,
    default_payment_method: str | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    payment_behavior: str = "allow_incomplete",
    trial_end: int | None = None,
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    one_time_lines: list[tuple[Obj, int]] | None = None,
    off_session: bool = True,
) -> Obj:
    """Create a subscription and bill its first invoice; raises 402 for ``error_if_incomplete``."""
    now = ctx.time_for_customer(customer["id"])
    currencies = {p["currency"] for p, _, _ in items}
    if len(currencies) != 1:
        raise validation("All prices on a subscription must have the same currency.", param="items")
    sub = new_object("subscription")
    sub_id = ctx.new_id("sub")
    sub.update(
        id=sub_id,
        automatic_tax={"disabled_reason": None, "enabled": False, "liability": None},
        billing_cycle_anchor=trial_end or now,
        billing_mode={"flexible": None, "type": "classic", "updated_at": None},
        cancel_at=cancel_at,
        cancel_at_period_end=cancel_at_period_end,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        collection_method=collection_method,
        created=now,
        currency=currencies.pop(),
        customer=customer["id"],
        days_until_due=days_until_due,
        default_payment_method=default_payment_method,
        description=description,
        discounts=[],
        default_tax_rates=[],
        invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
        items={"object": "list", "data": [], "has_more": False, "url": f"/v1/subscription_items?subscription={sub_id}"},
        metadata=metadata or {},
        payment_settings={"payment_method_options": None, "payment_method_types": None, "save_default_payment_method": "off"},
        start_date=now,
        status="incomplete",
        test_clock=customer.get("test_clock"),
        trial_end=trial_end,
        trial_start=now if trial_end else None,
        trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
        _announced=False,
    )
    for price, quantity, item_meta in items:
        end = trial_end or billing.period_end_for(price, now, now)
        sub["items"]["data"].append(billing.new_item(ctx, sub, price, quantity, now, end, item_meta))
    ctx.account.add(sub)
    inv = billing.sub_invoice(ctx, sub, "subscription_create", automatic=False)
    if trial_end:
        for item in sub["items"]["data"]:
            price = ctx.account.objects[item["price"]["id"]]
            billing.add_line(
                ctx, inv, amount=0, quantity=int(item["quantity"]), price=price,
                description=f"Trial period for {billing.line_description(price, 1, ctx)}",
                period=(now, trial_end), subscription=sub_id, subscription_item=item["id"],
            )
        sub["status"] = "trialing"
    else:
        billing.item_invoice_lines(ctx, sub, inv)
    for price, quantity in one_time_lines or []:
        billing.add_line(
            ctx, inv, amount=int(price["unit_amount"]) * quantity, quantity=quantity, price=price,
            description=billing.line_description(price, quantity, ctx), subscription=sub_id,
        )
    billing.pull_pending_items(ctx, inv, sub_id)
    error: StripeError | None = None
    ctx.emit("invoice.created", inv)
    billing.finalize(ctx, inv)
    if inv["status"] == "paid":
        sub["status"] = "trialing" if trial_end else "active"
    elif collection_method == "send_invoice":
        sub["status"] = "active"
    elif payment_behavior == "default_incomplete":
        pi = ctx.account.objects[inv["_pi"]]
        pm_id = billing.default_payment_method(ctx, inv)
        if pm_id:
            pi.update(payment_method=pm_id, status="requires_confirmation")
    else:
        error = billing.pay(ctx, inv, off_session=off_session)
        if inv["status"] == "paid":
            sub["status"] = "active"
    if error is not None and payment_behavior == "error_if_incomplete":
        billing.void(ctx, inv)
        ctx.account.remove(sub["id"])
        raise error
    sub["_announced"] = True
    ctx.emit("customer.subscription.created", sub)
    return sub


def _items_from_params(ctx: Ctx, params: dict[str, Any]) -> list[tuple[Obj, int, dict[str, str]]]:
    raw = as_list(params, "items")
    if not raw:
        raise missing_parameter("items")
    out = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise validation("Invalid items", param="items")
        out.append((item_price(ctx, spec, f"items[{i}]"), as_int(spec, "quantity", 1) or 1, metadata_update({}, spec)))
    return out


def _trial_end(ctx: Ctx, params: dict[str, Any], now: int) -> int | None:
    days = as_int(params, "trial_period_days")
    if days:
        return now + days * DAY
    te = params.get("trial_end")
    if te == "now" or te in (None, ""):
        return None
    return as_int(params, "trial_end")


@route("POST", "/v1/subscriptions", "SubscriptionCreateParams")
def create_subscription_endpoint(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a subscription."""
    cus_id = as_str(params, "customer")
    if cus_id is None:
        raise missing_parameter("customer")
    customer = get_customer(ctx, cus_id)
    items = _items_from_params(ctx, params)
    dpm = as_str(params, "default_payment_method")
    if dpm is not None:
        pm = resolve_payment_method(ctx, dpm, "default_payment_method")
        if pm.get("customer") != customer["id"]:
            raise validation(
                "The customer does not have a payment method with the ID "
                f"{pm['id']}. The payment method must be attached to the customer.",
                param="default_payment_method",
            )
        dpm = pm["id"]
    method = enum(params, "collection_method", COLLECTION, "charge_automatically") or "charge_automatically"
    days = as_int(params, "days_until_due")
    if method == "send_invoice" and days is None:
        raise validation("Missing required param: days_until_due.", param="days_until_due", code="parameter_missing")
    sub = create_subscription(
        ctx,
        customer,
        items,
        default_payment_method=dpm,
        collection_method=method,
        days_until_due=days,
        payment_behavior=enum(params, "payment_behavior", BEHAVIORS, "allow_incomplete") or "allow_incomplete",
        trial_end=_trial_end(ctx, params, ctx.time_for_customer(customer["id"])),
        cancel_at_period_end=as_bool(params, "cancel_at_period_end"),
        cancel_at=as_int(params, "cancel_at"),
        metadata=metadata_update({}, params),
        description=as_str(params, "description"),
        off_session=as_bool(params, "off_session", True),
    )
    return render(ctx, sub, expand_params(params))


@route("GET", "/v1/subscriptions/{sub_id}", "SubscriptionRetrieveParams")
def retrieve_subscription(ctx: Ctx, params: dict[str, Any], sub_id: str) -> Obj:
    """Retrieve a subscription."""
    return render(ctx, ctx.account.get("subscription", sub_id), expand_params(params))


def _prorate(ctx: Ctx, sub: Obj, item: Obj, new_price: Obj, quantity: int, behavior: str) -> None:
    if behavior == "none":
        return
    now = ctx.time_for_customer(sub["customer"])
    start, end = int(item["current_period_start"]), int(item["current_period_end"])
    if end <= start or now >= end:
        return
    old = int(item["price"]["unit_amount"]) * int(item["quantity"])
    new = int(new_price["unit_amount"]) * quantity
    diff = round((new - old) * (end - now) / (end - start))
    if diff == 0:
        return
    ii = new_object("invoiceitem")
    ii.update(
        id=ctx.new_id("ii"),
        amount=diff,
        currency=sub["currency"],
        customer=sub["customer"],
        date=now,
        description="Proration for plan change",
        discountable=False,
        discounts=[],
        net_amount=diff,
        period={"end": end, "start": now},
        parent={"subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]}, "type": "subscription_details"},
        pricing=billing.price_details(new_price),
        proration=True,
        quantity=1,
        quantity_decimal="1",
        tax_rates=[],
        test_clock=sub["test_clock"],
        _pending=True,
        _subscription=sub["id"],
    )
    ctx.account.add(ii)
    ctx.emit("invoiceitem.created", ii)


@route("POST", "/v1/subscriptions/{sub_id}", "SubscriptionModifyParams")
def update_subscription(ctx: Ctx, params: dict[str, Any], sub_id: str) -> Obj:
    """Update items (price/quantity), cancellation, default PM, pause_collection, metadata."""
    sub = ctx.account.get("subscription", sub_id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid_request(
            "A canceled subscription can only update its cancellation_details and metadata.",
            param="items" if "items" in params else None,
        )
    before = {k: v for k, v in sub.items() if not k.startswith("_")}
    before["items"] = billing._items_snapshot(sub)
    behavior = enum(params, "proration_behavior", PRORATION, "create_prorations") or "create_prorations"
    changed_items = False
    if "items" in params:
        by_id = {i["id"]: i for i in sub["items"]["data"]}
        now = ctx.time_for_customer(sub["customer"])
        for n, spec in enumerate(as_list(params, "items")):
            if not isinstance(spec, dict):
                raise validation("Invalid items", param="items")
            item = by_id.get(str(spec.get("id"))) if spec.get("id") else None
            if spec.get("id") and item is None:
                raise invalid_request(f"No such subscription item: '{spec['id']}'", param=f"items[{n}][id]", code="resource_missing", status=404)
            if item is not None and as_bool(spec, "deleted"):
                sub["items"]["data"] = [i for i in sub["items"]["data"] if i["id"] != item["id"]]
                changed_items = True
                continue
            quantity = as_int(spec, "quantity", int(item["quantity"]) if item else 1) or 1
            if item is not None:
                price = item_price(ctx, spec, f"items[{n}]") if (spec.get("price") or spec.get("price_data")) else ctx.account.objects[item["price"]["id"]]
                _prorate(ctx, sub, item, price, quantity, behavior)
                item.update(price=render(ctx, price), plan=billing._plan(price), quantity=quantity)
                item["metadata"] = metadata_update(item["metadata"], spec)
            else:
                price = item_price(ctx, spec, f"items[{n}]")
                first = sub["items"]["data"][0] if sub["items"]["data"] else None
                start = int(first["current_period_start"]) if first else now
                end = int(first["current_period_end"]) if first else billing.period_end_for(price, now, now)
                sub["items"]["data"].append(billing.new_item(ctx, sub, price, quantity, start, end, metadata_update({}, spec)))
            changed_items = True
        if not sub["items"]["data"]:
            raise validation("A subscription must have at least one item.", param="items")
    if "cancel_at_period_end" in params:
        sub["cancel_at_period_end"] = as_bool(params, "cancel_at_period_end")
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = min(int(i["current_period_end"]) for i in sub["items"]["data"])
            sub["cancellation_details"] = dict(sub["cancellation_details"], reason="cancellation_requested")
        else:
            sub["cancel_at"] = None
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
    if "cancel_at" in params:
        value = params["cancel_at"]
        if value == "":
            sub["cancel_at"] = None
        elif value in ("min_period_end", "max_period_end"):
            ends = [int(i["current_period_end"]) for i in sub["items"]["data"]]
            sub["cancel_at"] = min(ends) if value == "min_period_end" else max(ends)
        else:
            sub["cancel_at"] = as_int(params, "cancel_at")
    if "default_payment_method" in params:
        dpm = as_str(params, "default_payment_method")
        sub["default_payment_method"] = resolve_payment_method(ctx, dpm, "default_payment_method")["id"] if dpm else None
    if "pause_collection" in params:
        raw = params["pause_collection"]
        if raw == "":
            sub["pause_collection"] = None
        else:
            pc = as_dict(params, "pause_collection")
            sub["pause_collection"] = {
                "behavior": enum(pc, "behavior", ("keep_as_draft", "mark_uncollectible", "void"), None)
                or _raise_missing("pause_collection[behavior]"),
                "resumes_at": as_int(pc, "resumes_at"),
            }
    if "collection_method" in params:
        sub["collection_method"] = enum(params, "collection_method", COLLECTION, "charge_automatically")
    if "days_until_due" in params:
        sub["days_until_due"] = as_int(params, "days_until_due")
    if params.get("trial_end") == "now" and sub["status"] == "trialing":
        for item in sub["items"]["data"]:
            item["current_period_end"] = ctx.time_for_customer(sub["customer"])
        sub["trial_end"] = ctx.time_for_customer(sub["customer"])
    str_fields(params, sub, ("description",))
    sub["metadata"] = metadata_update(sub["metadata"], params)
    if changed_items and behavior == "always_invoice":
        inv = billing.sub_invoice(ctx, sub, "subscription_update", automatic=False)
        billing.pull_pending_items(ctx, inv, sub["id"])
        if inv["lines"]["data"]:
            billing.charge_sub_invoice(ctx, sub, inv, automatic=False)
    ctx.emit_update("customer.subscription.updated", sub, before)
    if params.get("trial_end") == "now":
        billing.renew_due(ctx, sub, ctx.time_for_customer(sub["customer"]))
    return render(ctx, sub, expand_params(params))


def _raise_missing(param: str) -> str:
    raise missing_parameter(param)


@route("DELETE", "/v1/subscriptions/{sub_id}", "SubscriptionCancelParams")
def cancel_subscription(ctx: Ctx, params: dict[str, Any], sub_id: str) -> Obj:
    """Cancel a subscription immediately."""
    sub = ctx.account.get("subscription", sub_id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid_request(
            f"No such subscription: '{sub_id}'", param="id", code="resource_missing", status=404
        )
    billing.cancel_subscription_now(ctx, sub, as_dict(params, "cancellation_details"))
    return render(ctx, sub, expand_params(params))


@route("POST", "/v1/subscriptions/{sub_id}/pause", "SubscriptionPauseParams")
def pause_subscription(ctx: Ctx, params: dict[str, Any], sub_id: str) -> Obj:
    """Pause a subscription (status ``paused``; no invoices until resumed)."""
    sub = ctx.account.get("subscription", sub_id)
    if sub["status"] not in ("active", "trialing", "past_due"):
        raise invalid_request(f"A subscription with status {sub['status']} cannot be paused.")
    before = {"status": sub["status"]}
    sub["status"] = "paused"
    ctx.emit("customer.subscription.paused", sub)
    ctx.emit("customer.subscription.updated", sub, before)
    return render(ctx, sub, expand_params(params))


@route("POST", "/v1/subscriptions/{sub_id}/resume", "SubscriptionResumeParams")
def resume_subscription(ctx: Ctx, params: dict[str, Any], sub_id: str) -> Obj:
    """Resume a paused subscription; a new period starts now (``billing_cycle_anchor=now``)."""
    sub = ctx.account.get("subscription", sub_id)
    if sub["status"] != "paused":
        raise invalid_request("Only a paused subscription can be resumed.")
    before = {"status": sub["status"], "items": billing._items_snapshot(sub)}
    now = ctx.time_for_customer(sub["customer"])
    sub["status"] = "active"
    if params.get("billing_cycle_anchor", "now") == "now":
        sub["billing_cycle_anchor"] = now
        for item in sub["items"]["data"]:
            price = ctx.account.objects[item["price"]["id"]]
            item["current_period_start"] = now
            item["current_period_end"] = billing.period_end_for(price, now, now)
        inv = billing.sub_invoice(ctx, sub, "subscription_update", automatic=False)
        billing.item_invoice_lines(ctx, sub, inv)
        billing.charge_sub_invoice(ctx, sub, inv, automatic=False)
    ctx.emit("customer.subscription.resumed", sub)
    ctx.emit("customer.subscription.updated", sub, before)
    return render(ctx, sub, expand_params(params))


@route("GET", "/v1/subscriptions", "SubscriptionListParams")
def list_subscriptions(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List subscriptions (canceled ones only with ``status=canceled|all``)."""
    cus = as_str(params, "customer")
    status = as_str(params, "status")
    price = as_str(params, "price")
    clock = as_str(params, "test_clock")
    items = (
        s
        for s in ctx.account.of_kind("subscription")
        if (cus is None or s["customer"] == cus)
        and (clock is None or s["test_clock"] == clock)
        and (
            (status is None and s["status"] not in ("canceled", "incomplete_expired"))
            or status == "all"
            or s["status"] == status
        )
        and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
    )
    return list_response(ctx, items, params, "/v1/subscriptions", expand_params(params))
