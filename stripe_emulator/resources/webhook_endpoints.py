"""Webhook endpoints: where an account's events are delivered; each gets a ``whsec_`` secret."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import validation
from stripe_emulator.forms import as_list, as_str, metadata_update
from stripe_emulator.render import expand_params, list_response, render
from stripe_emulator.resources.common import required_str, str_fields
from stripe_emulator.routes import route
from stripe_emulator.store import API_VERSION, Obj, new_object


def _events(params: dict[str, Any]) -> list[str]:
    events = [str(e) for e in as_list(params, "enabled_events")]
    if not events:
        raise validation("Missing required param: enabled_events.", param="enabled_events", code="parameter_missing")
    return events


@route("POST", "/v1/webhook_endpoints", "WebhookEndpointCreateParams")
def create_webhook_endpoint(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Register an endpoint; the response carries its signing secret."""
    url = required_str(params, "url")
    if not url.startswith(("http://", "https://")):
        raise validation("Invalid URL: must be http(s)", param="url", code="url_invalid")
    ep = new_object("webhook_endpoint")
    secret = f"whsec_{ctx.store.ids.token(32)}"
    ep.update(
        id=ctx.new_id("we"),
        api_version=as_str(params, "api_version") or API_VERSION,
        created=ctx.now,
        enabled_events=_events(params),
        status="enabled",
        url=url,
        _secret=secret,
    )
    str_fields(params, ep, ("description",))
    ep["metadata"] = metadata_update({}, params)
    ctx.account.add(ep)
    out = render(ctx, ep, expand_params(params))
    out["secret"] = secret
    return out


@route("GET", "/v1/webhook_endpoints/{we_id}", "WebhookEndpointRetrieveParams")
def retrieve_webhook_endpoint(ctx: Ctx, params: dict[str, Any], we_id: str) -> Obj:
    """Retrieve an endpoint (without its secret)."""
    return render(ctx, ctx.account.get("webhook_endpoint", we_id, label="webhook endpoint"), expand_params(params))


@route("POST", "/v1/webhook_endpoints/{we_id}", "WebhookEndpointModifyParams")
def update_webhook_endpoint(ctx: Ctx, params: dict[str, Any], we_id: str) -> Obj:
    """Update url, events, description, or disable the endpoint."""
    ep = ctx.account.get("webhook_endpoint", we_id, label="webhook endpoint")
    if "enabled_events" in params:
        ep["enabled_events"] = _events(params)
    if "url" in params:
        ep["url"] = required_str(params, "url")
    if "disabled" in params:
        ep["status"] = "disabled" if params["disabled"] == "true" else "enabled"
    str_fields(params, ep, ("description",))
    ep["metadata"] = metadata_update(ep["metadata"], params)
    return render(ctx, ep, expand_params(params))


@route("DELETE", "/v1/webhook_endpoints/{we_id}", "WebhookEndpointDeleteParams")
def delete_webhook_endpoint(ctx: Ctx, params: dict[str, Any], we_id: str) -> Obj:
    """Delete an endpoint."""
    ep = ctx.account.get("webhook_endpoint", we_id, label="webhook endpoint")
    ctx.account.remove(ep["id"])
    return {"id": ep["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/webhook_endpoints", "WebhookEndpointListParams")
def list_webhook_endpoints(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """List endpoints."""
    return list_response(ctx, ctx.account.of_kind("webhook_endpoint"), params, "/v1/webhook_endpoints", expand_params(params))
