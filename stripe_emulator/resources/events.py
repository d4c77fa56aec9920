"""Events API: retrieve and list (filter by ``type`` / ``types``)."""

from __future__ import annotations

import fnmatch
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.forms import as_list, as_str
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.routes import route
from stripe_emulator.store import Obj


@route("GET", "/v1/events/{evt_id}", "EventRetrieveParams")
def retrieve_event(ctx: Ctx, params: dict[str, Any], evt_id: str) -> Obj:
    """Retrieve an event."""
    return render(ctx, ctx.account.get("event", evt_id), expand_params(params))


@route("GET", "/v1/events", "EventListParams")
def list_events(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List events, newest first; ``type`` accepts ``*`` wildcards like Stripe."""
    kind = as_str(params, "type")
    kinds = [str(t) for t in as_list(params, "types")]
    items = (
        e
        for e in ctx.account.of_kind("event")
        if (kind is None or fnmatch.fnmatchcase(e["type"], kind))
        and (not kinds or e["type"] in kinds)
    )
    return list_response(ctx, items, params, "/v1/events", expand_params(params))
