"""The emulator's stand-in for the issuer's 3-D Secure page, and its JSON test hooks."""

from __future__ import annotations

import html

from stripe_emulator import charging
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request, resource_missing
from stripe_emulator.render import render
from stripe_emulator.resources import setup_intents
from stripe_emulator.store import Obj, Store


def find_intent(store: Store, intent_id: str) -> tuple[Ctx, Obj]:
    found = store.find_anywhere(intent_id)
    if found is None or found[1].get("object") not in ("payment_intent", "setup_intent"):
        raise resource_missing("intent", intent_id)
    acct, obj = found
    return Ctx(store=store, account=acct, base_url=""), obj


def resolve(store: Store, intent_id: str, base_url: str, outcome: str) -> Obj:
    """Complete or fail the pending authentication of a PI or SetupIntent."""
    ctx, obj = find_intent(store, intent_id)
    ctx.base_url = base_url
    if obj["status"] != "requires_action":
        raise invalid_request(
            f"{intent_id} is not awaiting authentication (status {obj['status']}).",
            code="payment_intent_unexpected_state" if obj["object"] == "payment_intent" else "setup_intent_unexpected_state",
        )
    if obj["object"] == "payment_intent":
        if outcome == "complete":
            charging.complete_3ds(ctx, obj)
        else:
            charging.fail_3ds(ctx, obj)
    elif outcome == "complete":
        setup_intents.complete_3ds(ctx, obj)
    else:
        setup_intents.fail_3ds(ctx, obj)
    return render(ctx, obj)


def page(store: Store, intent_id: str) -> str:
    _, obj = find_intent(store, intent_id)
    safe = html.escape(intent_id)
    amount = obj.get("amount")
    summary = f"{amount} {obj.get('currency', '').upper()}" if amount is not None else "card setup"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>3D Secure - emulator</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>3D Secure authentication</h1>
<p>Emulated issuer challenge for <code>{safe}</code> ({html.escape(summary)}),
current status <b>{html.escape(str(obj.get('status')))}</b>.</p>
<form method="post" action="/_emulator/3ds/{safe}/complete"><button type="submit">Complete authentication</button></form>
<form method="post" action="/_emulator/3ds/{safe}/fail"><button type="submit">Fail authentication</button></form>
</body></html>
"""
