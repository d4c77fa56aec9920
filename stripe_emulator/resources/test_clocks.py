"""Test clocks: frozen time for attached customers; advancing renews their subscriptions."""

from __future__ import annotations

from typing import Any

from stripe_emulator import billing
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid_request
from stripe_emulator.forms import as_str
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import required_int
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object

KIND = "test_helpers.test_clock"


def _get(ctx: Ctx, clock_id: str) -> Obj:
    return ctx.account.get(KIND, clock_id, label="test clock", param="test_clock")


@route("POST", "/v1/test_helpers/test_clocks", "TestClockCreateParams")
def create_test_clock(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Create a test clock at ``frozen_time``."""
    clock = new_object(KIND)
    clock.update(
        id=ctx.new_id("clock"),
        created=ctx.now,
        deletes_after=ctx.now + 30 * 86_400,
        frozen_time=required_int(params, "frozen_time"),
        name=as_str(params, "name"),
        status="ready",
        status_details={},
    )
    ctx.account.add(clock)
    ctx.emit("test_helpers.test_clock.created", clock)
    return render(ctx, clock, expand_params(params))


@route("GET", "/v1/test_helpers/test_clocks/{clock_id}", "TestClockRetrieveParams")
def retrieve_test_clock(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Obj:
    """Retrieve a test clock."""
    return render(ctx, _get(ctx, clock_id), expand_params(params))


@route("POST", "/v1/test_helpers/test_clocks/{clock_id}/advance", "TestClockAdvanceParams")
def advance_test_clock(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Obj:
    """Move the clock forward, billing every elapsed period of its customers' subscriptions.

    The advance completes synchronously: the returned clock is already ``ready``.
    """
    clock = _get(ctx, clock_id)
    target = required_int(params, "frozen_time")
    if target <= int(clock["frozen_time"]):
        raise invalid_request(
            "The frozen_time must be after the test clock's current frozen_time.", param="frozen_time"
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    ctx.emit("test_helpers.test_clock.advancing", clock)
    customers = {
        c["id"] for c in ctx.account.of_kind("customer") if c.get("test_clock") == clock["id"]
    }
    # Step period by period so each renewal sees its own frozen time.
    clock["frozen_time"] = target
    billing.run_due(ctx, lambda cus_id: target if cus_id in customers else None)
    clock["status"] = "ready"
    clock["status_details"] = {}
    ctx.emit("test_helpers.test_clock.ready", clock)
    return render(ctx, clock, expand_params(params))


@route("DELETE", "/v1/test_helpers/test_clocks/{clock_id}", "TestClockDeleteParams")
def delete_test_clock(ctx: Ctx, params: dict[str, Any], clock_id: str) -> Obj:
    """Delete a test clock and the customers attached to it."""
    clock = _get(ctx, clock_id)
    for cus in list(ctx.account.of_kind("customer")):
        if cus.get("test_clock") == clock["id"]:
            for sub in ctx.account.of_kind("subscription"):
                if sub["customer"] == cus["id"] and sub["status"] not in ("canceled", "incomplete_expired"):
                    billing.cancel_subscription_now(ctx, sub, automatic=True)
            stub = {"id": cus["id"], "object": "customer", "deleted": True}
            cus.clear()
            cus.update(stub)
    ctx.account.remove(clock["id"])
    ctx.emit("test_helpers.test_clock.deleted", clock)
    return {"id": clock["id"], "object": KIND, "deleted": True}


@route("GET", "/v1/test_helpers/test_clocks", "TestClockListParams")
def list_test_clocks(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List test clocks."""
    return list_response(ctx, ctx.account.of_kind(KIND), params, "/v1/test_helpers/test_clocks", expand_params(params))
