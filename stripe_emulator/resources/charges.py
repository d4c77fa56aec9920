"""Charges (read side): retrieve and list; ``refunds`` is includable."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.forms import as_str
from stripe_emulator.render import expand_params, includable, list_response, render
from stripe_emulator.routes import route
from stripe_emulator.store import Obj


@includable("charge", "refunds")
def _charge_refunds(ctx: Ctx, charge: Obj) -> Obj:
    data = [render(ctx, r) for r in ctx.account.of_kind("refund") if r["charge"] == charge["id"]]
    return {"object": "list", "data": data, "has_more": False, "url": f"/v1/charges/{charge['id']}/refunds"}


@route("GET", "/v1/charges/{ch_id}", "ChargeRetrieveParams")
def retrieve_charge(ctx: Ctx, params: dict[str, Any], ch_id: str) -> Obj:
    """Retrieve a charge."""
    ch = ctx.account.get("charge", ch_id, param="charge")
    return render(ctx, ch, expand_params(params))


@route("GET", "/v1/charges", "ChargeListParams")
def list_charges(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List charges by customer or PaymentIntent."""
    cus = as_str(params, "customer")
    pi = as_str(params, "payment_intent")
    items = (
        ch
        for ch in ctx.account.of_kind("charge")
        if (cus is None or ch["customer"] == cus) and (pi is None or ch["payment_intent"] == pi)
    )
    return list_response(ctx, items, params, "/v1/charges", expand_params(params))
