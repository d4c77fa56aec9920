"""Invoices and invoice items: drafts, lines, finalize, pay, void, uncollectible, send, delete."""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, missing_parameter, validation
from stripe_emulator.forms import (
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    metadata_update,
)
from stripe_emulator.render import expand_params, includable, list_response, render
from stripe_emulator.resources.catalog import new_price
from stripe_emulator.resources.common import enum, str_fields
from stripe_emulator.resources.customers import get_customer
from stripe_emulator.resources.payment_methods import resolve_payment_method
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

COLLECTION = ("charge_automatically", "send_invoice")


@includable("invoice", "payments")
def _payments(ctx: Ctx, inv: Obj) -> Obj:
    data = [render(ctx, ctx.account.objects[i]) for i in inv["_payments"]]
    return {"object": "list", "data": data, "has_more": False, "url": f"/v1/invoices/{inv['id']}/payments"}


@includable("invoice", "confirmation_secret")
def _confirmation_secret(ctx: Ctx, inv: Obj) -> Obj | None:
    if not inv["_pi"]:
        return None
    pi = ctx.account.objects[inv["_pi"]]
    return {"client_secret": pi["client_secret"], "type": "payment_intent"}


def _get(ctx: Ctx, inv_id: str) -> Obj:
    return ctx.account.get("invoice", inv_id, param="invoice")


def _require_draft(inv: Obj) -> None:
    if inv["status"] != "draft":
        raise invalid_request(
            f"You can only modify draft invoices. This invoice is {inv['status']}.",
            code="invoice_not_editable",
        )


def _line_from_spec(ctx: Ctx, spec: dict[str, Any], cur: str, param: str) -> tuple[Obj | None, int, int]:
    """(price, amount, quantity) from ``pricing[price]`` / ``price_data`` / ``amount``."""
    quantity = as_int(spec, "quantity", 1) or 1
    pricing = as_dict(spec, "pricing")
    price: Obj | None = None
    if pricing.get("price"):
        price = ctx.account.get("price", pricing["price"], param=f"{param}[pricing][price]")
    elif as_dict(spec, "price_data"):
        data = dict(as_dict(spec, "price_data"))
        data.setdefault("currency", cur)
        price = new_price(ctx, data)
    if price is not None:
        return price, int(price["unit_amount"]) * quantity, quantity
    amount = as_int(spec, "amount")
    if amount is None:
        unit = as_int(spec, "unit_amount_decimal") if spec.get("unit_amount_decimal") else None
        if unit is None:
            raise validation(
                "You must specify one of `amount`, `pricing[price]` or `price_data`.", param=f"{param}[amount]" if param else "amount"
            )
        amount = unit * quantity
    return None, amount, quantity


def new_invoice_item(ctx: Ctx, customer: Obj, params: dict[str, Any], inv: Obj | None) -> Obj:
    cur = (as_str(params, "currency") or (inv["currency"] if inv else "usd")).lower()
    price, amount, quantity = _line_from_spec(ctx, params, cur, "")
    if price is not None:
        cur = price["currency"]
    now = ctx.time_for_customer(customer["id"])
    period = as_dict(params, "period")
    ii = new_object("invoiceitem")
    ii.update(
        id=ctx.new_id("ii"),
        amount=amount,
        currency=cur,
        customer=customer["id"],
        date=now,
        description=as_str(params, "description") or (billing.line_description(price, quantity, ctx) if price else None),
        discountable=True,
        discounts=[],
        invoice=None,
        metadata=metadata_update({}, params),
        net_amount=amount,
        period={"end": as_int(period, "end", now), "start": as_int(period, "start", now)},
        pricing=billing.price_details(price),
        proration=False,
        quantity=quantity,
        quantity_decimal=str(quantity),
        tax_rates=[],
        test_clock=customer.get("test_clock"),
        _pending=True,
    )
    ctx.account.add(ii)
    if inv is not None:
        billing.attach_item(ctx, inv, ii)
    ctx.emit("invoiceitem.created", ii)
    return ii


# -- invoices ---------------------------------------------------------------------------
@route("POST", "/v1/invoices", "InvoiceCreateParams")
def create_invoice(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a draft invoice."""
    cus_id = as_str(params, "customer")
    if cus_id is None:
        raise missing_parameter("customer")
    customer = get_customer(ctx, cus_id)
    method = enum(params, "collection_method", COLLECTION, "charge_automatically") or "charge_automatically"
    days = as_int(params, "days_until_due")
    if method == "send_invoice" and days is None and not params.get("due_date"):
        raise validation(
            "Missing required param: days_until_due or due_date (required with send_invoice).",
            param="days_until_due",
            code="parameter_missing",
        )
    dpm = as_str(params, "default_payment_method")
    if dpm is not None:
        dpm = resolve_payment_method(ctx, dpm, "default_payment_method")["id"]
    inv = billing.new_invoice(
        ctx,
        customer,
        currency=(as_str(params, "currency") or "usd").lower(),
        collection_method=method,
        auto_advance=as_bool(params, "auto_advance", False),
        days_until_due=days,
        default_payment_method=dpm,
        description=as_str(params, "description"),
        metadata=metadata_update({}, params),
    )
    due = as_int(params, "due_date")
    if due is not None:
        inv["due_date"] = due
    str_fields(params, inv, ("footer", "statement_descriptor"))
    if params.get("pending_invoice_items_behavior") == "include":
        billing.pull_pending_items(ctx, inv)
    ctx.emit("invoice.created", inv)
    return render(ctx, inv, expand_params(params))


@route("GET", "/v1/invoices/{inv_id}", "InvoiceRetrieveParams")
def retrieve_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Retrieve an invoice (``payments``/``confirmation_secret`` only when expanded)."""
    return render(ctx, _get(ctx, inv_id), expand_params(params))


@route("POST", "/v1/invoices/{inv_id}", "InvoiceModifyParams")
def update_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Update an invoice (most fields only while draft)."""
    inv = _get(ctx, inv_id)
    before = {k: v for k, v in inv.items() if not k.startswith("_")}
    if set(params) - {"metadata", "expand", "description", "footer", "auto_advance"}:
        _require_draft(inv)
    if inv["status"] in ("paid", "void") and set(params) - {"metadata", "expand"}:
        _require_draft(inv)
    if "collection_method" in params:
        inv["collection_method"] = enum(params, "collection_method", COLLECTION, "charge_automatically")
    if "days_until_due" in params:
        inv["_days_until_due"] = as_int(params, "days_until_due")
    if "auto_advance" in params:
        inv["auto_advance"] = as_bool(params, "auto_advance")
    if "default_payment_method" in params:
        dpm = as_str(params, "default_payment_method")
        inv["default_payment_method"] = resolve_payment_method(ctx, dpm)["id"] if dpm else None
    str_fields(params, inv, ("description", "footer", "statement_descriptor"))
    inv["metadata"] = metadata_update(inv["metadata"], params)
    ctx.emit_update("invoice.updated", inv, before)
    return render(ctx, inv, expand_params(params))


@route("DELETE", "/v1/invoices/{inv_id}", "InvoiceDeleteParams")
def delete_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Delete a draft invoice."""
    inv = _get(ctx, inv_id)
    if inv["status"] != "draft":
        raise invalid_request(
            "You can only delete draft invoices. Void the invoice instead.", code="invoice_not_editable"
        )
    for line in inv["lines"]["data"]:
        ii_id = (line["parent"].get("invoice_item_details") or {}).get("invoice_item")
        if ii_id and ii_id in ctx.account.objects:
            ctx.account.remove(ii_id)
    ctx.account.remove(inv["id"])
    ctx.emit("invoice.deleted", inv)
    return {"id": inv["id"], "object": "invoice", "deleted": True}


@route("GET", "/v1/invoices", "InvoiceListParams")
def list_invoices(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List invoices by customer, status, subscription."""
    cus = as_str(params, "customer")
    status = as_str(params, "status")
    sub = as_str(params, "subscription")
    method = as_str(params, "collection_method")
    items = (
        i
        for i in ctx.account.of_kind("invoice")
        if (cus is None or i["customer"] == cus)
        and (status is None or i["status"] == status)
        and (method is None or i["collection_method"] == method)
        and (sub is None or ((i.get("parent") or {}).get("subscription_details") or {}).get("subscription") == sub)
    )
    return list_response(ctx, items, params, "/v1/invoices", expand_params(params))


@route("GET", "/v1/invoices/{inv_id}/lines", "InvoiceListLinesParams")
def list_invoice_lines(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """List an invoice's lines."""
    inv = _get(ctx, inv_id)
    return list_response(ctx, inv["lines"]["data"], params, f"/v1/invoices/{inv_id}/lines")


@route("POST", "/v1/invoices/{inv_id}/add_lines", "InvoiceAddLinesParams")
def add_invoice_lines(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Add lines to a draft invoice."""
    inv = _get(ctx, inv_id)
    _require_draft(inv)
    lines = as_list(params, "lines")
    if not lines:
        raise missing_parameter("lines")
    customer = ctx.account.objects[inv["customer"]]
    for i, spec in enumerate(lines):
        if not isinstance(spec, dict):
            raise validation("Invalid lines", param="lines")
        if spec.get("invoice_item"):
            ii = ctx.account.get("invoiceitem", spec["invoice_item"], label="invoiceitem", param=f"lines[{i}][invoice_item]")
            billing.attach_item(ctx, inv, ii)
        else:
            new_invoice_item(ctx, customer, spec, inv)
    return render(ctx, inv, expand_params(params))


@route("POST", "/v1/invoices/{inv_id}/finalize", "InvoiceFinalizeInvoiceParams")
def finalize_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Finalize a draft: number, hosted URL, PaymentIntent; ``draft -> open``."""
    inv = _get(ctx, inv_id)
    if "auto_advance" in params:
        inv["auto_advance"] = as_bool(params, "auto_advance")
    billing.finalize(ctx, inv)
    return render(ctx, inv, expand_params(params))


@route("POST", "/v1/invoices/{inv_id}/pay", "InvoicePayParams")
def pay_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Attempt payment now (off-session by default); declines answer 402."""
    inv = _get(ctx, inv_id)
    if as_bool(params, "paid_out_of_band"):
        if inv["status"] not in ("open", "uncollectible"):
            raise invalid_request(f"Invoice is already {inv['status']}.")
        if inv["_pi"]:
            pi = ctx.account.objects[inv["_pi"]]
            if pi["status"] not in ("succeeded", "canceled"):
                from stripe_emulator.resources.payment_intents import cancel

                cancel(ctx, pi, None)
        billing._mark_paid(ctx, inv)
        return render(ctx, inv, expand_params(params))
    if inv["status"] == "draft":
        billing.finalize(ctx, inv)
    pm = None
    if params.get("payment_method"):
        pm = resolve_payment_method(ctx, params["payment_method"])
    error = billing.pay(ctx, inv, pm, off_session=as_bool(params, "off_session", True))
    if error is not None:
        raise error
    return render(ctx, inv, expand_params(params))


@route("POST", "/v1/invoices/{inv_id}/void", "InvoiceVoidInvoiceParams")
def void_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Void a finalized, unpaid invoice."""
    inv = _get(ctx, inv_id)
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid_request(f"You can only void open or uncollectible invoices. This invoice is {inv['status']}.")
    billing.void(ctx, inv)
    return render(ctx, inv, expand_params(params))


@route("POST", "/v1/invoices/{inv_id}/mark_uncollectible", "InvoiceMarkUncollectibleParams")
def mark_uncollectible(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """Mark an open invoice uncollectible."""
    inv = _get(ctx, inv_id)
    if inv["status"] != "open":
        raise invalid_request(f"You can only mark open invoices as uncollectible. This invoice is {inv['status']}.")
    inv["status"] = "uncollectible"
    inv["status_transitions"] = dict(inv["status_transitions"], marked_uncollectible_at=ctx.time_for_customer(inv["customer"]))
    ctx.emit("invoice.marked_uncollectible", inv)
    return render(ctx, inv, expand_params(params))


@route("POST", "/v1/invoices/{inv_id}/send", "InvoiceSendInvoiceParams")
def send_invoice(ctx: Ctx, params: dict[str, Any], inv_id: str) -> Obj:
    """(Pretend to) email a finalized invoice."""
    inv = _get(ctx, inv_id)
    if inv["status"] != "open":
        raise invalid_request(f"You can only send open invoices. This invoice is {inv['status']}.")
    ctx.emit("invoice.sent", inv)
    return render(ctx, inv, expand_params(params))


# -- invoice payments -------------------------------------------------------------------
@route("GET", "/v1/invoice_payments/{ip_id}", "InvoicePaymentRetrieveParams")
def retrieve_invoice_payment(ctx: Ctx, params: dict[str, Any], ip_id: str) -> Obj:
    """Retrieve an invoice payment."""
    return render(ctx, ctx.account.get("invoice_payment", ip_id), expand_params(params))


@route("GET", "/v1/invoice_payments", "InvoicePaymentListParams")
def list_invoice_payments(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List invoice payments (by invoice)."""
    inv = as_str(params, "invoice")
    items = (p for p in ctx.account.of_kind("invoice_payment") if inv is None or p["invoice"] == inv)
    return list_response(ctx, items, params, "/v1/invoice_payments", expand_params(params))


# -- invoice items ----------------------------------------------------------------------
@route("POST", "/v1/invoiceitems", "InvoiceItemCreateParams")
def create_invoice_item(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create an invoice item on a draft invoice (or pending for the next one)."""
    cus_id = as_str(params, "customer")
    if cus_id is None:
        raise missing_parameter("customer")
    customer = get_customer(ctx, cus_id)
    inv = None
    inv_id = as_str(params, "invoice")
    if inv_id is not None:
        inv = _get(ctx, inv_id)
        _require_draft(inv)
        if inv["customer"] != customer["id"]:
            raise validation("The invoice belongs to another customer.", param="invoice")
    ii = new_invoice_item(ctx, customer, params, inv)
    return render(ctx, ii, expand_params(params))


@route("GET", "/v1/invoiceitems/{ii_id}", "InvoiceItemRetrieveParams")
def retrieve_invoice_item(ctx: Ctx, params: dict[str, Any], ii_id: str) -> Obj:
    """Retrieve an invoice item."""
    return render(ctx, ctx.account.get("invoiceitem", ii_id, label="invoiceitem"), expand_params(params))


@route("POST", "/v1/invoiceitems/{ii_id}", "InvoiceItemModifyParams")
def update_invoice_item(ctx: Ctx, params: dict[str, Any], ii_id: str) -> Obj:
    """Update an invoice item's description/metadata (draft invoices only)."""
    ii = ctx.account.get("invoiceitem", ii_id, label="invoiceitem")
    if ii["invoice"]:
        _require_draft(ctx.account.objects[ii["invoice"]])
    str_fields(params, ii, ("description",))
    ii["metadata"] = metadata_update(ii["metadata"], params)
    return render(ctx, ii, expand_params(params))


@route("DELETE", "/v1/invoiceitems/{ii_id}", "InvoiceItemDeleteParams")
def delete_invoice_item(ctx: Ctx, params: dict[str, Any], ii_id: str) -> Obj:
    """Delete an invoice item (pending or on a draft)."""
    ii = ctx.account.get("invoiceitem", ii_id, label="invoiceitem")
    if ii["invoice"]:
        inv = ctx.account.objects[ii["invoice"]]
        _require_draft(inv)
        inv["lines"]["data"] = [
            line for line in inv["lines"]["data"]
            if (line["parent"].get("invoice_item_details") or {}).get("invoice_item") != ii["id"]
        ]
        billing.recompute(inv)
    ctx.account.remove(ii["id"])
    ctx.emit("invoiceitem.deleted", ii)
    return {"id": ii["id"], "object": "invoiceitem", "deleted": True}


@route("GET", "/v1/invoiceitems", "InvoiceItemListParams")
def list_invoice_items(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List invoice items by customer, invoice, pending."""
    cus = as_str(params, "customer")
    inv = as_str(params, "invoice")
    pending = params.get("pending")
    items = (
        i
        for i in ctx.account.of_kind("invoiceitem")
        if (cus is None or i["customer"] == cus)
        and (inv is None or i["invoice"] == inv)
        and (pending in (None, "") or (i["invoice"] is None) == (pending == "true"))
    )
    return list_response(ctx, items, params, "/v1/invoiceitems", expand_params(params))
