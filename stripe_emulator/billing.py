"""The billing engine: invoices (lines, finalize, pay, void), subscriptions and renewals."""

from __future__ import annotations

from typing import Any

from stripe_emulator import charging
from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError, invalid_request
from stripe_emulator.periods import add_interval, anchor_day
from stripe_emulator.render import render
from stripe_emulator.store import Obj, Store, new_object

ACTION_REQUIRED_MESSAGE = (
    "This payment requires additional user action before it can be completed successfully. "
    "Payment can be completed using the PaymentIntent associated with the invoice."
)
LIVE_SUB_STATUSES = ("active", "trialing", "past_due", "unpaid")


# -- invoices ---------------------------------------------------------------------------
def new_invoice(
    ctx: Ctx,
    customer: Obj,
    *,
    currency: str = "usd",
    billing_reason: str = "manual",
    collection_method: str = "charge_automatically",
    auto_advance: bool = False,
    days_until_due: int | None = None,
    parent: dict[str, Any] | None = None,
    default_payment_method: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    period: tuple[int, int] | None = None,
) -> Obj:
    now = ctx.time_for_customer(customer["id"])
    inv = new_object("invoice")
    inv_id = ctx.new_id("in")
    inv.update(
        id=inv_id,
        account_country="US",
        account_name="billflow emulator",
        auto_advance=auto_advance,
        automatic_tax={"disabled_reason": None, "enabled": False, "liability": None, "provider": None, "status": None},
        billing_reason=billing_reason,
        collection_method=collection_method,
        created=now,
        currency=currency,
        customer=customer["id"],
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        customer_phone=customer.get("phone"),
        customer_tax_exempt="none",
        customer_tax_ids=[],
        default_payment_method=default_payment_method,
        description=description,
        due_date=now + days_until_due * 86_400 if collection_method == "send_invoice" and days_until_due is not None else None,
        issuer={"type": "self"},
        lines={"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{inv_id}/lines"},
        metadata=metadata or {},
        parent=parent,
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        period_end=period[1] if period else now,
        period_start=period[0] if period else now,
        status="draft",
        status_transitions={"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
        test_clock=customer.get("test_clock"),
        automatically_finalizes_at=now + 3600 if auto_advance else None,
        _payments=[],
        _pi=None,
        _days_until_due=days_until_due,
    )
    ctx.account.add(inv)
    recompute(inv)
    return inv


def recompute(inv: Obj) -> None:
    total = sum(int(line["amount"]) for line in inv["lines"]["data"])
    inv.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=total,
        amount_remaining=max(0, total - int(inv["amount_paid"])),
        ending_balance=0 if inv["status"] != "draft" else None,
    )


def price_details(price: Obj | None) -> dict[str, Any] | None:
    if price is None:
        return None
    return {
        "price_details": {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": str(price["unit_amount"]),
    }


def add_line(
    ctx: Ctx,
    inv: Obj,
    *,
    amount: int,
    quantity: int = 1,
    price: Obj | None = None,
    description: str | None = None,
    period: tuple[int, int] | None = None,
    invoice_item: str | None = None,
    subscription: str | None = None,
    subscription_item: str | None = None,
    proration: bool = False,
    metadata: dict[str, str] | None = None,
) -> Obj:
    start, end = period or (inv["period_start"], inv["period_end"])
    if subscription_item is not None:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    line = new_object("line_item")
    line.update(
        id=ctx.new_id("il"),
        amount=amount,
        currency=inv["currency"],
        description=description,
        discount_amounts=[],
        discountable=True,
        discounts=[],
        invoice=inv["id"],
        metadata=metadata or {},
        parent=parent,
        period={"end": end, "start": start},
        pretax_credit_amounts=[],
        pricing=price_details(price),
        quantity=quantity,
        quantity_decimal=str(quantity),
        subscription=subscription,
        subtotal=amount,
        taxes=[],
    )
    inv["lines"]["data"].append(line)
    recompute(inv)
    return line


def line_description(price: Obj, quantity: int, ctx: Ctx) -> str:
    product = ctx.account.objects.get(price["product"]) or {}
    name = product.get("name") or price["product"]
    amount = f"{price['unit_amount'] / 100:.2f}"
    rec = price.get("recurring")
    if rec:
        return f"{quantity} × {name} (at ${amount} / {rec['interval']})"
    return f"{quantity} × {name}" if quantity != 1 else str(name)


def pull_pending_items(ctx: Ctx, inv: Obj, subscription: str | None = None) -> None:
    for ii in list(ctx.account.of_kind("invoiceitem"))[::-1]:
        if ii["customer"] == inv["customer"] and ii["invoice"] is None and ii.get("_pending", True):
            if subscription is not None and ii.get("_subscription") not in (None, subscription):
                continue
            attach_item(ctx, inv, ii)


def attach_item(ctx: Ctx, inv: Obj, ii: Obj) -> None:
    price = ctx.account.objects.get(ii["pricing"]["price_details"]["price"]) if ii.get("pricing") else None
    ii["invoice"] = inv["id"]
    ii["_pending"] = False
    add_line(
        ctx,
        inv,
        amount=ii["amount"],
        quantity=ii["quantity"],
        price=price,
        description=ii["description"],
        period=(ii["period"]["start"], ii["period"]["end"]),
        invoice_item=ii["id"],
        subscription=ii.get("_subscription"),
        proration=ii["proration"],
        metadata=ii["metadata"],
    )


def _invoice_payment(ctx: Ctx, inv: Obj, pi: Obj) -> Obj:
    ip = new_object("invoice_payment")
    ip.update(
        id=ctx.new_id("inpay"),
        amount_paid=None,
        amount_requested=inv["amount_due"],
        created=ctx.now,
        currency=inv["currency"],
        invoice=inv["id"],
        is_default=True,
        payment={"payment_intent": pi["id"], "type": "payment_intent"},
        status="open",
        status_transitions={"canceled_at": None, "paid_at": None},
    )
    ctx.account.add(ip)
    inv["_payments"].append(ip["id"])
    return ip


def finalize(ctx: Ctx, inv: Obj, *, automatic: bool = False) -> None:
    if inv["status"] != "draft":
        raise invalid_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
        )
    customer = ctx.account.objects[inv["customer"]]
    now = ctx.time_for_customer(customer["id"])
    seq = int(customer.get("next_invoice_sequence") or 1)
    customer["next_invoice_sequence"] = seq + 1
    inv.update(
        status="open",
        number=f"{customer['invoice_prefix']}-{seq:04d}",
        effective_at=now,
        hosted_invoice_url=f"{ctx.base_url}/_emulator/invoices/{inv['id']}",
        invoice_pdf=f"{ctx.base_url}/_emulator/invoices/{inv['id']}/pdf",
        automatically_finalizes_at=None,
        starting_balance=0,
        ending_balance=0,
        webhooks_delivered_at=now,
    )
    inv["status_transitions"] = dict(inv["status_transitions"], finalized_at=now)
    if inv["collection_method"] == "send_invoice" and inv["due_date"] is None:
        inv["due_date"] = now + int(inv.get("_days_until_due") or 30) * 86_400
    if inv["amount_due"] > 0:
        from stripe_emulator.resources.payment_intents import new_payment_intent

        pi = new_payment_intent(
            ctx,
            amount=inv["amount_due"],
            cur=inv["currency"],
            customer=inv["customer"],
            description=f"Invoice {inv['number']}",
            payment_method_types=["card"],
        )
        pi["_invoice"] = inv["id"]
        inv["_pi"] = pi["id"]
        _invoice_payment(ctx, inv, pi)
        ctx.emit("payment_intent.created", pi, automatic=automatic)
    ctx.emit("invoice.finalized", inv, automatic=automatic)
    if inv["amount_due"] == 0:
        _mark_paid(ctx, inv, automatic=automatic)


def _mark_paid(ctx: Ctx, inv: Obj, *, automatic: bool = False) -> None:
    now = ctx.time_for_customer(inv["customer"])
    inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0, attempted=True, next_payment_attempt=None)
    inv["status_transitions"] = dict(inv["status_transitions"], paid_at=now)
    for ip_id in inv["_payments"]:
        ip = ctx.account.objects[ip_id]
        if ip["status"] == "open":
            ip.update(status="paid", amount_paid=ip["amount_requested"])
            ip["status_transitions"] = dict(ip["status_transitions"], paid_at=now)
            ctx.emit("invoice_payment.paid", ip, automatic=automatic)
    ctx.emit("invoice.paid", inv, automatic=automatic)
    ctx.emit("invoice.payment_succeeded", inv, automatic=automatic)
    sub = subscription_of(ctx, inv)
    if sub is not None and sub["status"] in ("incomplete", "past_due", "unpaid"):
        before = {"status": sub["status"]}
        sub["status"] = "active"
        if sub.get("_announced"):
            ctx.emit("customer.subscription.updated", sub, before, automatic=automatic)


def subscription_of(ctx: Ctx, inv: Obj) -> Obj | None:
    parent = inv.get("parent") or {}
    details = parent.get("subscription_details") or {}
    sub_id = details.get("subscription")
    return ctx.account.objects.get(sub_id) if sub_id else None


def invoice_payment_succeeded(ctx: Ctx, pi: Obj) -> None:
    inv = ctx.account.objects.get(pi["_invoice"])
    if inv is not None and inv["status"] in ("open", "uncollectible"):
        _mark_paid(ctx, inv, automatic=ctx.request_id is None)


def invoice_payment_failed(ctx: Ctx, pi: Obj) -> None:
    inv = ctx.account.objects.get(pi["_invoice"])
    if inv is None:
        return
    automatic = ctx.request_id is None
    now = ctx.time_for_customer(inv["customer"])
    inv["next_payment_attempt"] = now + 3 * 86_400 if inv["billing_reason"] == "subscription_cycle" else None
    ctx.emit("invoice.payment_failed", inv, automatic=automatic)
    sub = subscription_of(ctx, inv)
    if sub is not None and inv["billing_reason"] != "subscription_create" and sub["status"] in ("active", "trialing"):
        before = {"status": sub["status"]}
        sub["status"] = "past_due"
        ctx.emit("customer.subscription.updated", sub, before, automatic=automatic)


def default_payment_method(ctx: Ctx, inv: Obj) -> str | None:
    if inv.get("default_payment_method"):
        return str(inv["default_payment_method"])
    sub = subscription_of(ctx, inv)
    if sub is not None and sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    cus = ctx.account.objects.get(inv["customer"]) or {}
    pm = (cus.get("invoice_settings") or {}).get("default_payment_method")
    return str(pm) if pm else None


def pay(ctx: Ctx, inv: Obj, pm: Obj | None = None, *, off_session: bool = True, automatic: bool = False) -> StripeError | None:
    """One collection attempt; returns the 402 to raise on failure (state already saved)."""
    if inv["status"] not in ("open", "uncollectible"):
        return invalid_request(
            f"Invoice is already {inv['status']}" if inv["status"] in ("paid", "void") else "You can only pay an invoice that has been finalized.",
        )
    if inv["amount_remaining"] == 0 or inv["_pi"] is None:
        _mark_paid(ctx, inv, automatic=automatic)
        return None
    pi = ctx.account.objects[inv["_pi"]]
    if pm is None:
        pm_id = default_payment_method(ctx, inv)
        if pm_id is None and pi.get("payment_method"):
            pm_id = pi["payment_method"]
        if pm_id is None:
            inv.update(attempt_count=inv["attempt_count"] + 1, attempted=True)
            ctx.emit("invoice.payment_failed", inv, automatic=automatic)
            _sub_after_failure(ctx, inv, automatic)
            return invalid_request(
                "This customer has no attached payment source or default payment method. Please "
                "consider adding a default payment method.",
            )
        pm = ctx.account.objects.get(pm_id)
        if pm is None:
            return invalid_request(f"No such PaymentMethod: '{pm_id}'", param="payment_method", code="resource_missing", status=404)
    inv.update(attempt_count=inv["attempt_count"] + 1, attempted=True)
    if pi["status"] == "requires_action":
        pi["status"] = "requires_confirmation"
    error = charging.confirm(ctx, pi, pm, off_session=off_session, for_invoice=True)
    if error is not None:
        return error
    if pi["status"] == "requires_action":
        ctx.emit("invoice.payment_action_required", inv, automatic=automatic)
        _sub_after_failure(ctx, inv, automatic)
        return StripeError(
            402,
            "card_error",
            ACTION_REQUIRED_MESSAGE,
            code="invoice_payment_intent_requires_action",
            extra={"payment_intent": render(ctx, pi)},
        )
    return None


def _sub_after_failure(ctx: Ctx, inv: Obj, automatic: bool) -> None:
    sub = subscription_of(ctx, inv)
    if sub is not None and inv["billing_reason"] != "subscription_create" and sub["status"] in ("active", "trialing"):
        before = {"status": sub["status"]}
        sub["status"] = "past_due"
        ctx.emit("customer.subscription.updated", sub, before, automatic=automatic)


def void(ctx: Ctx, inv: Obj, *, automatic: bool = False) -> None:
    now = ctx.time_for_customer(inv["customer"])
    inv.update(status="void", amount_remaining=0)
    inv["status_transitions"] = dict(inv["status_transitions"], voided_at=now)
    if inv["_pi"]:
        pi = ctx.account.objects[inv["_pi"]]
        if pi["status"] not in ("succeeded", "canceled"):
            from stripe_emulator.resources.payment_intents import cancel

            cancel(ctx, pi, "void_invoice")
    for ip_id in inv["_payments"]:
        ip = ctx.account.objects[ip_id]
        if ip["status"] == "open":
            ip["status"] = "canceled"
            ip["status_transitions"] = dict(ip["status_transitions"], canceled_at=now)
    ctx.emit("invoice.voided", inv, automatic=automatic)


# -- subscriptions ----------------------------------------------------------------------
def _plan(price: Obj) -> Obj:
    rec = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": str(price["unit_amount"]),
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec.get("interval"),
        "interval_count": rec.get("interval_count", 1),
        "livemode": False,
        "metadata": price["metadata"],
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def new_item(ctx: Ctx, sub: Obj, price: Obj, quantity: int, start: int, end: int, metadata: dict[str, str] | None = None) -> Obj:
    item = new_object("subscription_item")
    item.update(
        id=ctx.new_id("si", 14),
        created=start,
        current_period_start=start,
        current_period_end=end,
        discounts=[],
        metadata=metadata or {},
        plan=_plan(price),
        price=render(ctx, price),
        quantity=quantity,
        subscription=sub["id"],
        tax_rates=[],
    )
    return item


def period_end_for(price: Obj, start: int, anchor: int) -> int:
    rec = price["recurring"]
    return add_interval(start, rec["interval"], int(rec.get("interval_count") or 1), anchor_day(anchor))


def item_invoice_lines(ctx: Ctx, sub: Obj, inv: Obj) -> None:
    for item in sub["items"]["data"]:
        price = ctx.account.objects[item["price"]["id"]]
        add_line(
            ctx,
            inv,
            amount=int(price["unit_amount"]) * int(item["quantity"]),
            quantity=int(item["quantity"]),
            price=price,
            description=line_description(price, int(item["quantity"]), ctx),
            period=(item["current_period_start"], item["current_period_end"]),
            subscription=sub["id"],
            subscription_item=item["id"],
        )


def sub_invoice(ctx: Ctx, sub: Obj, reason: str, *, automatic: bool) -> Obj:
    customer = ctx.account.objects[sub["customer"]]
    first = sub["items"]["data"][0]
    inv = new_invoice(
        ctx,
        customer,
        currency=sub["currency"],
        billing_reason=reason,
        collection_method=sub["collection_method"],
        auto_advance=True,
        days_until_due=sub["days_until_due"],
        parent={
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        period=(first["current_period_start"], first["current_period_start"]),
    )
    sub["latest_invoice"] = inv["id"]
    return inv


def charge_sub_invoice(ctx: Ctx, sub: Obj, inv: Obj, *, automatic: bool) -> StripeError | None:
    ctx.emit("invoice.created", inv, automatic=automatic)
    finalize(ctx, inv, automatic=automatic)
    if inv["status"] != "open" or sub["collection_method"] != "charge_automatically":
        return None
    return pay(ctx, inv, automatic=automatic)


def cancel_subscription_now(ctx: Ctx, sub: Obj, details: dict[str, Any] | None = None, *, at: int | None = None, automatic: bool = False) -> None:
    now = at if at is not None else ctx.time_for_customer(sub["customer"])
    before = {"status": sub["status"]}
    sub.update(status="canceled", canceled_at=now, ended_at=now)
    cd = dict(sub.get("cancellation_details") or {"comment": None, "feedback": None, "reason": None})
    cd["reason"] = cd.get("reason") or "cancellation_requested"
    if details:
        cd.update({k: v for k, v in details.items() if k in ("comment", "feedback")})
    sub["cancellation_details"] = cd
    ctx.emit("customer.subscription.deleted", sub, before, automatic=automatic)


def renew_due(ctx: Ctx, sub: Obj, now: int) -> None:
    """Bill every period of ``sub`` that ended at or before ``now`` (events have no request)."""
    while True:
        if sub["status"] == "incomplete":
            if now >= int(sub["created"]) + 23 * 3600:
                expired = {"status": "incomplete"}
                sub["status"] = "incomplete_expired"
                inv = ctx.account.objects.get(sub.get("latest_invoice") or "")
                if inv is not None and inv["status"] == "open":
                    void(ctx, inv, automatic=True)
                ctx.emit("customer.subscription.updated", sub, expired, automatic=True)
            return
        if sub["status"] not in LIVE_SUB_STATUSES and sub["status"] != "paused":
            return
        items = sub["items"]["data"]
        period_end = min(int(i["current_period_end"]) for i in items)
        if period_end > now:
            return
        if sub["status"] == "paused":
            return
        cancel_at = sub.get("cancel_at")
        if sub.get("cancel_at_period_end") or (cancel_at is not None and int(cancel_at) <= period_end):
            cancel_subscription_now(ctx, sub, at=period_end, automatic=True)
            return
        before: dict[str, Any] = {"items": _items_snapshot(sub), "latest_invoice": sub["latest_invoice"], "status": sub["status"]}
        pause = sub.get("pause_collection")
        if pause and pause.get("resumes_at") and int(pause["resumes_at"]) <= period_end:
            before["pause_collection"] = pause
            sub["pause_collection"] = None
            pause = None
        if sub["status"] == "trialing":
            sub["status"] = "active"
        for item in items:
            price = ctx.account.objects[item["price"]["id"]]
            start = int(item["current_period_end"])
            item["current_period_start"] = start
            item["current_period_end"] = period_end_for(price, start, int(sub["billing_cycle_anchor"]))
        inv = sub_invoice(ctx, sub, "subscription_cycle", automatic=True)
        item_invoice_lines(ctx, sub, inv)
        pull_pending_items(ctx, inv, sub["id"])
        ctx.emit("invoice.created", inv, automatic=True)
        if pause:
            behavior = pause.get("behavior")
            if behavior == "keep_as_draft":
                pass
            else:
                finalize(ctx, inv, automatic=True)
                if inv["status"] == "open":
                    if behavior == "void":
                        void(ctx, inv, automatic=True)
                    else:
                        inv["status"] = "uncollectible"
                        inv["status_transitions"] = dict(inv["status_transitions"], marked_uncollectible_at=period_end)
                        ctx.emit("invoice.marked_uncollectible", inv, automatic=True)
        else:
            finalize(ctx, inv, automatic=True)
            if inv["status"] == "open" and sub["collection_method"] == "charge_automatically":
                pay(ctx, inv, automatic=True)
        ctx.emit("customer.subscription.updated", sub, before, automatic=True)


def _items_snapshot(sub: Obj) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [dict(i) for i in sub["items"]["data"]],
        "has_more": False,
        "url": sub["items"]["url"],
    }


def run_due(ctx: Ctx, now_for: Any) -> None:
    """Renew due subscriptions of customers selected by ``now_for(customer_id) -> now | None``.

    Renewals are Stripe-initiated: their events and audit rows carry no request id or key.
    """
    ctx = Ctx(store=ctx.store, account=ctx.account, base_url=ctx.base_url)
    for sub in list(ctx.account.of_kind("subscription"))[::-1]:
        now = now_for(sub["customer"])
        if now is not None:
            renew_due(ctx, sub, now)


def run_due_for_all(store: Store, base_url: str) -> None:
    """After the emulator clock moved: renew subscriptions of customers without a test clock."""
    for acct in store.accounts.values():
        ctx = Ctx(store=store, account=acct, base_url=base_url)

        def now_for(customer_id: str, ctx: Ctx = ctx) -> int | None:
            cus = ctx.account.objects.get(customer_id) or {}
            return None if cus.get("test_clock") else ctx.now

        run_due(ctx, now_for)
