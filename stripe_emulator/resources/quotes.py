"""Quotes: draft -> open (finalize) -> accepted (invoice or subscription) | canceled."""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, missing_parameter, validation
from stripe_emulator.forms import as_dict, as_int, as_list, as_str, metadata_update
from stripe_emulator.periods import DAY
from stripe_emulator.render import expand_params, includable, list_response, render
from stripe_emulator.resources.catalog import new_price
from stripe_emulator.resources.common import enum, str_fields
from stripe_emulator.resources.customers import get_customer
from stripe_emulator.resources.payment_links import line_item
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

COLLECTION = ("charge_automatically", "send_invoice")


@includable("quote", "line_items")
def _line_items(ctx: Ctx, qt: Obj) -> Obj:
    return {"object": "list", "data": qt["_line_items"], "has_more": False, "url": f"/v1/quotes/{qt['id']}/line_items"}


def _build_lines(ctx: Ctx, params: dict[str, Any]) -> list[Obj]:
    out = []
    for i, spec in enumerate(as_list(params, "line_items")):
        if not isinstance(spec, dict):
            raise validation("Invalid line_items", param="line_items")
        if spec.get("price"):
            price = ctx.account.get("price", spec["price"], param=f"line_items[{i}][price]")
        elif as_dict(spec, "price_data"):
            price = new_price(ctx, as_dict(spec, "price_data"))
        else:
            raise missing_parameter(f"line_items[{i}][price]")
        out.append(line_item(ctx, price, as_int(spec, "quantity", 1) or 1))
    return out


def _recompute(qt: Obj) -> None:
    lines = qt["_line_items"]
    total = sum(int(li["amount_total"]) for li in lines)
    zero = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
    recurring = [li for li in lines if li["price"]["type"] == "recurring"]
    qt.update(amount_subtotal=total, amount_total=total, total_details=dict(zero))
    if lines:
        qt["currency"] = lines[0]["currency"]
    rec_total = sum(int(li["amount_total"]) for li in recurring)
    qt["computed"] = {
        "recurring": {
            "amount_subtotal": rec_total,
            "amount_total": rec_total,
            "interval": recurring[0]["price"]["recurring"]["interval"],
            "interval_count": recurring[0]["price"]["recurring"]["interval_count"],
            "total_details": dict(zero),
        }
        if recurring
        else None,
        "upfront": {"amount_subtotal": total, "amount_total": total, "total_details": dict(zero)},
    }


def _maybe_expire(ctx: Ctx, qt: Obj) -> None:
    if qt["status"] in ("draft", "open") and qt["expires_at"] <= ctx.time_for_customer(qt["customer"]):
        qt["status"] = "canceled"
        qt["status_transitions"] = dict(qt["status_transitions"], canceled_at=qt["expires_at"])
        ctx.emit("quote.canceled", qt, automatic=True)


def _get(ctx: Ctx, qt_id: str) -> Obj:
    qt = ctx.account.get("quote", qt_id, param="quote")
    _maybe_expire(ctx, qt)
    return qt


def _apply(ctx: Ctx, qt: Obj, params: dict[str, Any]) -> None:
    if "customer" in params:
        cus = as_str(params, "customer")
        if cus is not None:
            customer = get_customer(ctx, cus)
            qt["test_clock"] = customer.get("test_clock") or qt["test_clock"]
        qt["customer"] = cus
    if "line_items" in params:
        qt["_line_items"] = _build_lines(ctx, params)
    if "collection_method" in params:
        qt["collection_method"] = enum(params, "collection_method", COLLECTION, "charge_automatically")
    settings = as_dict(params, "invoice_settings")
    if "days_until_due" in settings:
        qt["invoice_settings"] = dict(qt["invoice_settings"], days_until_due=as_int(settings, "days_until_due"))
    sd = as_dict(params, "subscription_data")
    if sd:
        data = dict(qt["subscription_data"])
        if "description" in sd:
            data["description"] = sd["description"] or None
        if "trial_period_days" in sd:
            data["trial_period_days"] = as_int(sd, "trial_period_days")
        if "effective_date" in sd:
            data["effective_date"] = None if sd["effective_date"] in ("", "current_period_end") else as_int(sd, "effective_date")
        if "metadata" in sd:
            data["metadata"] = metadata_update(data.get("metadata") or {}, sd)
        qt["subscription_data"] = data
    if "expires_at" in params:
        qt["expires_at"] = as_int(params, "expires_at")
    str_fields(params, qt, ("description", "header", "footer"))
    qt["metadata"] = metadata_update(qt["metadata"], params)
    _recompute(qt)


@route("POST", "/v1/quotes", "QuoteCreateParams")
def create_quote(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a draft quote."""
    qt = new_object("quote")
    clock = as_str(params, "test_clock")
    if clock is not None:
        ctx.account.get("test_helpers.test_clock", clock, label="test clock", param="test_clock")
    qt.update(
        id=ctx.new_id("qt"),
        automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
        collection_method="charge_automatically",
        created=ctx.now,
        currency="usd",
        default_tax_rates=[],
        discounts=[],
        invoice_settings={"days_until_due": None, "issuer": {"type": "self"}},
        status="draft",
        status_transitions={"accepted_at": None, "canceled_at": None, "finalized_at": None},
        subscription_data={
            "billing_mode": {"type": "classic"},
            "description": None,
            "effective_date": None,
            "metadata": None,
            "trial_period_days": None,
        },
        test_clock=clock,
        _line_items=[],
    )
    _apply(ctx, qt, params)
    qt["created"] = ctx.time_for_customer(qt["customer"])
    if qt["expires_at"] is None:
        qt["expires_at"] = qt["created"] + 30 * DAY
    ctx.account.add(qt)
    ctx.emit("quote.created", qt)
    return render(ctx, qt, expand_params(params))


@route("GET", "/v1/quotes/{qt_id}", "QuoteRetrieveParams")
def retrieve_quote(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """Retrieve a quote (``line_items`` when expanded)."""
    return render(ctx, _get(ctx, qt_id), expand_params(params))


@route("POST", "/v1/quotes/{qt_id}", "QuoteModifyParams")
def update_quote(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """Edit a draft quote; an open quote only takes ``expires_at``/``metadata``."""
    qt = _get(ctx, qt_id)
    allowed_open = {"expires_at", "metadata", "expand"}
    if qt["status"] == "open" and set(params) - allowed_open or qt["status"] in ("accepted", "canceled"):
        raise invalid_request(
            f"This quote cannot be updated because it has a status of {qt['status']}.",
        )
    _apply(ctx, qt, params)
    return render(ctx, qt, expand_params(params))


@route("POST", "/v1/quotes/{qt_id}/finalize", "QuoteFinalizeQuoteParams")
def finalize_quote(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """Finalize a draft quote: ``draft -> open`` with a number."""
    qt = _get(ctx, qt_id)
    if qt["status"] != "draft":
        raise invalid_request(f"This quote cannot be finalized because it has a status of {qt['status']}.")
    if not qt["customer"]:
        raise invalid_request("You must set a customer before finalizing a quote.", param="customer")
    if not qt["_line_items"]:
        raise invalid_request("A quote must have at least one line item to be finalized.", param="line_items")
    if "expires_at" in params:
        qt["expires_at"] = as_int(params, "expires_at")
    customer = ctx.account.objects[qt["customer"]]
    seq = ctx.account.next_counter(f"quote:{customer['id']}")
    qt["number"] = f"QT-{customer['invoice_prefix']}-{seq:04d}-1"
    qt["status"] = "open"
    qt["status_transitions"] = dict(qt["status_transitions"], finalized_at=ctx.time_for_customer(qt["customer"]))
    ctx.emit("quote.finalized", qt)
    return render(ctx, qt, expand_params(params))


@route("POST", "/v1/quotes/{qt_id}/accept", "QuoteAcceptParams")
def accept_quote(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """Accept an open quote: one-time lines -> draft invoice; any recurring line -> subscription."""
    qt = _get(ctx, qt_id)
    if qt["status"] != "open":
        raise invalid_request(f"This quote cannot be accepted because it has a status of {qt['status']}.")
    customer = ctx.account.objects[qt["customer"]]
    lines = qt["_line_items"]
    recurring = [li for li in lines if li["price"]["type"] == "recurring"]
    now = ctx.time_for_customer(customer["id"])
    if recurring:
        from stripe_emulator.resources.subscriptions import create_subscription

        sd = qt["subscription_data"]
        trial_days = sd.get("trial_period_days")
        sub = create_subscription(
            ctx,
            customer,
            [(ctx.account.objects[li["price"]["id"]], int(li["quantity"]), {}) for li in recurring],
            collection_method=qt["collection_method"],
            days_until_due=qt["invoice_settings"].get("days_until_due"),
            trial_end=now + int(trial_days) * DAY if trial_days else None,
            metadata=dict(sd.get("metadata") or qt["metadata"]),
            description=sd.get("description"),
            one_time_lines=[
                (ctx.account.objects[li["price"]["id"]], int(li["quantity"]))
                for li in lines
                if li["price"]["type"] != "recurring"
            ],
        )
        qt["subscription"] = sub["id"]
    else:
        inv = billing.new_invoice(
            ctx,
            customer,
            currency=qt["currency"],
            billing_reason="quote_accept",
            collection_method=qt["collection_method"],
            days_until_due=qt["invoice_settings"].get("days_until_due"),
            parent={"quote_details": {"quote": qt["id"]}, "subscription_details": None, "type": "quote_details"},
            description=qt["description"],
            metadata=dict(qt["metadata"]),
        )
        from stripe_emulator.resources.invoices import new_invoice_item

        for li in lines:
            new_invoice_item(
                ctx, customer, {"pricing": {"price": li["price"]["id"]}, "quantity": str(li["quantity"])}, inv
            )
        ctx.emit("invoice.created", inv)
        qt["invoice"] = inv["id"]
    qt["status"] = "accepted"
    qt["status_transitions"] = dict(qt["status_transitions"], accepted_at=now)
    ctx.emit("quote.accepted", qt)
    return render(ctx, qt, expand_params(params))


@route("POST", "/v1/quotes/{qt_id}/cancel", "QuoteCancelParams")
def cancel_quote(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """Cancel a draft or open quote."""
    qt = _get(ctx, qt_id)
    if qt["status"] not in ("draft", "open"):
        raise invalid_request(f"This quote cannot be canceled because it has a status of {qt['status']}.")
    qt["status"] = "canceled"
    qt["status_transitions"] = dict(qt["status_transitions"], canceled_at=ctx.time_for_customer(qt["customer"]))
    ctx.emit("quote.canceled", qt)
    return render(ctx, qt, expand_params(params))


@route("GET", "/v1/quotes/{qt_id}/line_items", "QuoteLineItemListParams")
def list_quote_line_items(ctx: Ctx, params: dict[str, Any], qt_id: str) -> Obj:
    """List a quote's line items."""
    qt = _get(ctx, qt_id)
    return list_response(ctx, qt["_line_items"], params, f"/v1/quotes/{qt_id}/line_items")


@route("GET", "/v1/quotes", "QuoteListParams")
def list_quotes(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List quotes by customer and status."""
    cus = as_str(params, "customer")
    status = as_str(params, "status")
    items = []
    for q in ctx.account.of_kind("quote"):
        _maybe_expire(ctx, q)
        if (cus is None or q["customer"] == cus) and (status is None or q["status"] == status):
            items.append(q)
    return list_response(ctx, items, params, "/v1/quotes", expand_params(params))
