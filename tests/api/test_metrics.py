"""`GET /metrics`: the API counts and times its requests by method, route template and status."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Shop

Key = tuple[str, str, str]


async def scrape(client: httpx.AsyncClient) -> tuple[str, dict[Key, float], dict[tuple[str, str], float]]:
    """The page as Prometheus reads it (no API key): request counts by (method, route, status) and
    latency observations by (method, route)."""
    page = await client.get("/metrics")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain")
    counts: dict[Key, float] = {}
    timings: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "billflow_api_requests_total":
                counts[(labels["method"], labels["route"], labels["status"])] = sample.value
            elif sample.name == "billflow_api_request_seconds_count":
                timings[(labels["method"], labels["route"])] = sample.value
    return page.text, counts, timings


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    shop = make_merchant("metrics")
    _, counts_before, timings_before = await scrape(client)
    missing = [f"pay_{uuid.uuid4().hex[:24]}" for _ in range(3)]
    for payment_id in missing:
        assert (await client.get(f"/v1/payments/{payment_id}", headers=shop.headers)).status_code == 404
    assert (await client.get(f"/v1/payments/{missing[0]}")).status_code == 401
    stray = f"/no-such-route/{uuid.uuid4().hex}"
    assert (await client.get(stray)).status_code == 404
    assert (await client.request("PROPFIND", "/healthz")).status_code == 405

    text, counts, timings = await scrape(client)

    def delta(key: Key) -> float:
        return counts.get(key, 0) - counts_before.get(key, 0)

    template = "/v1/payments/{payment_id}"
    assert delta(("GET", template, "404")) == 3
    assert delta(("GET", template, "401")) == 1
    assert delta(("GET", "unmatched", "404")) == 1
    assert delta(("OTHER", "/healthz", "405")) == 1
    assert delta(("GET", "/metrics", "200")) == 1  # the first scrape
    assert timings[("GET", template)] - timings_before.get(("GET", template), 0) == 4
    # raw paths never become labels: ids cannot grow the number of series
    assert not any(payment_id in text for payment_id in missing) and stray not in text


async def test_metrics_page_is_not_part_of_the_merchant_api_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"] and "/healthz" in schema["paths"]
