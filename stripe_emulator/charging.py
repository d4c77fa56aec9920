"""The PaymentIntent engine: confirmation against the test-card table, charges, capture, 3DS."""

from __future__ import annotations

from typing import Any

from stripe_emulator import audit
from stripe_emulator.cards import (
    ALWAYS,
    AUTH_REQUIRED,
    ON_SESSION,
    UNLESS_SETUP,
    Decline,
    spec_for,
)
from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.render import render
from stripe_emulator.store import Obj, new_object

AUTH_FAILURE_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def needs_auth(pm: Obj, off_session: bool) -> bool:
    spec = spec_for(pm["_number"])
    if spec.auth == ALWAYS:
        return True
    if spec.auth == UNLESS_SETUP:
        return not (off_session and pm.get("_setup"))
    if spec.auth == ON_SESSION:
        return not off_session
    return False


def redirect_action(ctx: Ctx, obj: Obj, return_url: str | None) -> dict[str, Any]:
    return {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": f"{ctx.base_url}/_emulator/3ds/{obj['id']}",
            "return_url": return_url,
        },
    }


def _card_details(ctx: Ctx, pm: Obj, three_ds: bool, pi: Obj) -> dict[str, Any]:
    card = pm["card"]
    return {
        "type": "card",
        "card": {
            "amount_authorized": pi["amount"],
            "brand": card["brand"],
            "capture_before": ctx.now + 7 * 86400 if pi["capture_method"] == "manual" else None,
            "checks": card["checks"],
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "installments": None,
            "last4": card["last4"],
            "mandate": None,
            "network": card["brand"],
            "network_token": {"used": False},
            "three_d_secure": {"authentication_flow": "challenge", "result": "authenticated", "version": "2.2.0"}
            if three_ds
            else None,
            "wallet": None,
        },
    }


def _new_charge(ctx: Ctx, pi: Obj, pm: Obj, three_ds: bool) -> Obj:
    ch = new_object("charge")
    ch.update(
        id=ctx.new_id("ch"),
        amount=pi["amount"],
        billing_details=pm["billing_details"],
        calculated_statement_descriptor="EMULATOR",
        created=ctx.now,
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        fraud_details={},
        metadata=dict(pi["metadata"]),
        payment_intent=pi["id"],
        payment_method=pm["id"],
        payment_method_details=_card_details(ctx, pm, three_ds, pi),
        receipt_email=pi["receipt_email"],
        disputed=False,
        refunded=False,
        amount_refunded=0,
        _refunded_real=0,
    )
    ctx.account.add(ch)
    return ch


def _setup_for_future(ctx: Ctx, pi: Obj, pm: Obj) -> None:
    if pi.get("setup_future_usage") and pi.get("customer"):
        if pm.get("customer") is None:
            pm["customer"] = pi["customer"]
            ctx.emit("payment_method.attached", pm)
        pm["_setup"] = True


def succeed(ctx: Ctx, pi: Obj, pm: Obj, three_ds: bool = False) -> None:
    """The card authorised: charge it (or hold it for manual capture)."""
    ch = _new_charge(ctx, pi, pm, three_ds)
    manual = pi["capture_method"] == "manual"
    ch.update(
        status="succeeded",
        paid=True,
        captured=not manual,
        amount_captured=0 if manual else pi["amount"],
        balance_transaction=None if manual else ctx.new_id("txn"),
        outcome={
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        receipt_url=f"{ctx.base_url}/_emulator/receipts/{ch['id']}",
    )
    pi.update(
        latest_charge=ch["id"],
        next_action=None,
        last_payment_error=None,
        payment_method=pm["id"],
    )
    audit.record(ctx, "charge", ch["id"], pi["id"], pi["amount"], pi["currency"], "succeeded" if not manual else "authorized")
    _setup_for_future(ctx, pi, pm)
    ctx.emit("charge.succeeded", ch)
    if manual:
        pi.update(status="requires_capture", amount_capturable=pi["amount"])
        ctx.emit("payment_intent.amount_capturable_updated", pi)
    else:
        pi.update(status="succeeded", amount_received=pi["amount"], amount_capturable=0)
        ctx.emit("payment_intent.succeeded", pi)
        _after_success(ctx, pi)


def _after_success(ctx: Ctx, pi: Obj) -> None:
    if pi.get("_invoice"):
        from stripe_emulator.billing import invoice_payment_succeeded

        invoice_payment_succeeded(ctx, pi)


def fail(ctx: Ctx, pi: Obj, pm: Obj, decline: Decline, *, with_charge: bool = True) -> StripeError:
    """A declined attempt: failed charge, PI back to requires_payment_method, 402 error."""
    ch_id: str | None = None
    if with_charge:
        ch = _new_charge(ctx, pi, pm, False)
        ch.update(
            status="failed",
            paid=False,
            captured=False,
            amount_captured=0,
            failure_code=decline.code,
            failure_message=decline.message,
            outcome={
                "advice_code": "try_again_later" if decline.code == "processing_error" else "do_not_try_again",
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "declined_by_network",
                "reason": decline.decline_code,
                "risk_level": "normal",
                "risk_score": 20,
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            },
        )
        ch_id = ch["id"]
        pi["latest_charge"] = ch_id
        audit.record(ctx, "charge", ch_id, pi["id"], pi["amount"], pi["currency"], "failed")
        ctx.emit("charge.failed", ch)
    error: dict[str, Any] = {
        "type": "card_error",
        "code": decline.code,
        "decline_code": decline.decline_code,
        "message": decline.message,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
        "charge": ch_id,
        "payment_method": render(ctx, pm),
        "payment_method_type": "card",
    }
    pi.update(
        status="requires_payment_method",
        last_payment_error=error,
        next_action=None,
        payment_method=None,
    )
    ctx.emit("payment_intent.payment_failed", pi)
    if pi.get("_invoice"):
        from stripe_emulator.billing import invoice_payment_failed

        invoice_payment_failed(ctx, pi)
    extra: dict[str, Any] = {
        "payment_intent": render(ctx, pi),
        "payment_method": render(ctx, pm),
        "payment_method_type": "card",
        "request_log_url": f"{ctx.base_url}/_emulator/logs/{ctx.request_id}",
    }
    if ch_id is not None:
        extra["charge"] = ch_id
    return StripeError(
        402,
        "card_error",
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        extra=extra,
    )


def confirm(ctx: Ctx, pi: Obj, pm: Obj, *, off_session: bool, for_invoice: bool = False) -> StripeError | None:
    """Run one confirmation attempt; returns the 402 to raise, if any (state is already saved)."""
    pi["payment_method"] = pm["id"]
    spec = spec_for(pm["_number"])
    auth = needs_auth(pm, off_session)
    if not auth and spec.charge_decline is not None:
        return fail(ctx, pi, pm, spec.charge_decline)
    if auth:
        if (off_session and not for_invoice) or pi.get("_error_on_requires_action"):
            return fail(ctx, pi, pm, AUTH_REQUIRED)
        pi.update(
            status="requires_action",
            next_action=redirect_action(ctx, pi, pi.get("_return_url")),
        )
        ctx.emit("payment_intent.requires_action", pi)
        return None
    succeed(ctx, pi, pm)
    return None


def complete_3ds(ctx: Ctx, pi: Obj) -> StripeError | None:
    pm = ctx.account.objects[pi["payment_method"]]
    spec = spec_for(pm["_number"])
    if spec.post_auth_decline is not None:
        return fail(ctx, pi, pm, spec.post_auth_decline)
    if spec.charge_decline is not None:
        return fail(ctx, pi, pm, spec.charge_decline)
    if spec.auth == UNLESS_SETUP and pi.get("setup_future_usage"):
        pm["_setup"] = True
    succeed(ctx, pi, pm, three_ds=True)
    return None


def fail_3ds(ctx: Ctx, pi: Obj) -> None:
    pm = ctx.account.objects.get(pi["payment_method"] or "")
    pi.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": AUTH_FAILURE_MESSAGE,
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
            "payment_method": render(ctx, pm) if pm is not None else None,
            "payment_method_type": "card",
        },
    )
    ctx.emit("payment_intent.payment_failed", pi)
    if pi.get("_invoice"):
        from stripe_emulator.billing import invoice_payment_failed

        invoice_payment_failed(ctx, pi)


def capture(ctx: Ctx, pi: Obj, amount: int) -> None:
    ch = ctx.account.objects[pi["latest_charge"]]
    before_ch = {"captured": ch["captured"], "amount_captured": ch["amount_captured"]}
    released = pi["amount_capturable"] - amount
    ch.update(
        captured=True,
        amount_captured=amount,
        amount_refunded=released,
        refunded=released == ch["amount"],
        balance_transaction=ctx.new_id("txn"),
    )
    pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
    audit.record(ctx, "capture", ch["id"], pi["id"], amount, pi["currency"], "succeeded")
    ctx.emit("charge.captured", ch, before_ch)
    ctx.emit("payment_intent.succeeded", pi)
    _after_success(ctx, pi)


