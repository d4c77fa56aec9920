"""The merchant's notification URL and signing secret over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.conftest import Shop


async def test_webhook_secret_is_kept_until_rotated(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant()
    early = await client.post("/v1/merchant/webhook/rotate-secret", headers=m.headers)
    assert early.status_code == 409
    first = await client.put(
        "/v1/merchant/webhook", json={"url": "https://shop.example/a"}, headers=m.headers
    )
    assert first.status_code == 200
    secret = first.json()["data"]["signing_secret"]
    moved = await client.put(
        "/v1/merchant/webhook", json={"url": "https://shop.example/b"}, headers=m.headers
    )
    assert moved.json()["data"] == {"url": "https://shop.example/b", "signing_secret": secret}
    rotated = await client.post("/v1/merchant/webhook/rotate-secret", headers=m.headers)
    assert rotated.status_code == 200
    assert rotated.json()["data"]["signing_secret"] not in (secret, None)
    me = (await client.get("/v1/merchant", headers=m.headers)).json()["data"]
    assert me["webhook_url"] == "https://shop.example/b"


async def test_webhook_url_must_be_a_url(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant()
    resp = await client.put("/v1/merchant/webhook", json={"url": "not a url"}, headers=m.headers)
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "url"
