"""Refunds: full or partial, never beyond what was captured."""

from __future__ import annotations

from typing import Any

from stripe_emulator import audit
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, validation
from stripe_emulator.forms import as_int, as_str, metadata_update
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import enum
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _target_charge(ctx: Ctx, params: dict[str, Any]) -> Obj:
    pi_id = as_str(params, "payment_intent")
    ch_id = as_str(params, "charge")
    if pi_id is None and ch_id is None:
        raise validation("One of the following params should be provided for this request: payment_intent or charge.")
    if pi_id is not None:
        pi = ctx.account.get("payment_intent", pi_id, label="payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise invalid_request(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable" if pi["status"] != "requires_capture" else "charge_not_captured",
            )
        ch = ctx.account.objects[pi["latest_charge"]]
        if ch_id is not None and ch_id != ch["id"]:
            raise validation("The charge does not belong to this PaymentIntent.", param="charge")
        return ch
    ch = ctx.account.get("charge", ch_id, param="charge")
    if ch["status"] != "succeeded" or not ch["captured"]:
        raise invalid_request(
            f"Charge {ch_id} has not been captured or did not succeed; it cannot be refunded.",
            param="charge",
            code="charge_not_refundable",
        )
    return ch


@route("POST", "/v1/refunds", "RefundCreateParams")
def create_refund(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Refund a captured charge, fully or partially."""
    ch = _target_charge(ctx, params)
    remaining = ch["amount_captured"] - ch["_refunded_real"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {ch['id']} has already been refunded.", param="charge", code="charge_already_refunded"
        )
    amount = as_int(params, "amount", remaining)
    assert amount is not None
    if amount <= 0:
        raise validation("Invalid positive integer", param="amount", code="parameter_invalid_integer")
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    reason = enum(params, "reason", REASONS, None)
    re = new_object("refund")
    re.update(
        id=ctx.new_id("re"),
        amount=amount,
        balance_transaction=ctx.new_id("txn"),
        charge=ch["id"],
        created=ctx.now,
        currency=ch["currency"],
        destination_details={
            "card": {"reference": ctx.store.ids.hex(12), "reference_status": "available", "reference_type": "acquirer_reference_number", "type": "refund"},
            "type": "card",
        },
        metadata=metadata_update({}, params),
        payment_intent=ch["payment_intent"],
        payment_method=ch["payment_method"],
        reason=reason,
        status="succeeded",
    )
    ctx.account.add(re)
    before = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["_refunded_real"] += amount
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
    audit.record(ctx, "refund", re["id"], ch["payment_intent"], amount, ch["currency"], "succeeded")
    ctx.emit("refund.created", re)
    ctx.emit("charge.refunded", ch, before)
    return render(ctx, re, expand_params(params))


@route("GET", "/v1/refunds/{re_id}", "RefundRetrieveParams")
def retrieve_refund(ctx: Ctx, params: dict[str, Any], re_id: str) -> Obj:
    """Retrieve a refund."""
    return render(ctx, ctx.account.get("refund", re_id, param="refund"), expand_params(params))


@route("POST", "/v1/refunds/{re_id}", "RefundModifyParams")
def update_refund(ctx: Ctx, params: dict[str, Any], re_id: str) -> Obj:
    """Update a refund's metadata."""
    re = ctx.account.get("refund", re_id, param="refund")
    before = {"metadata": dict(re["metadata"])}
    re["metadata"] = metadata_update(re["metadata"], params)
    ctx.emit_update("refund.updated", re, before)
    return render(ctx, re, expand_params(params))


@route("POST", "/v1/refunds/{re_id}/cancel", "RefundCancelParams")
def cancel_refund(ctx: Ctx, params: dict[str, Any], re_id: str) -> Obj:
    """Card refunds settle at once, so they can never be canceled."""
    re = ctx.account.get("refund", re_id, param="refund")
    raise invalid_request(
        f"Refund {re['id']} cannot be canceled because it has a status of {re['status']}.",
    )


@route("GET", "/v1/refunds", "RefundListParams")
def list_refunds(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List refunds by charge or PaymentIntent."""
    ch = as_str(params, "charge")
    pi = as_str(params, "payment_intent")
    items = (
        r
        for r in ctx.account.of_kind("refund")
        if (ch is None or r["charge"] == ch) and (pi is None or r["payment_intent"] == pi)
    )
    return list_response(ctx, items, params, "/v1/refunds", expand_params(params))
