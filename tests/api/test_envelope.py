"""The envelope and error handlers: every bad input is a 4xx in the error shape; Idempotency-Key rules."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from billflow.ledger.db import Ledger
from starter.deps import (
    IdempotencyKeyDep,
    LedgerDep,
    MerchantDep,
    idempotent_request,
    idempotent_request_async,
)
from starter.envelope import ApiError, Envelope, ok
from tests.api.conftest import Shop


class ThingIn(BaseModel):
    amount: int


def add_test_router(app: FastAPI) -> None:
    router = APIRouter()

    @router.post("/v1/test/things")
    async def post_thing(
        body: ThingIn, merchant: MerchantDep, ledger: LedgerDep, key: IdempotencyKeyDep
    ) -> Envelope[str]:
        return ok(await idempotent_request_async(ledger, merchant.merchant_id, "thing", key, body))

    @router.get("/v1/test/teapot")
    def teapot() -> Envelope[str]:
        raise ApiError(418, "teapot", "short and stout", "spout")

    app.include_router(router)


async def test_api_error_keeps_status_code_and_field(client: httpx.AsyncClient, app: FastAPI) -> None:
    add_test_router(app)
    resp = await client.get("/v1/test/teapot")
    assert resp.status_code == 418
    assert resp.json() == {
        "success": False,
        "error": {"code": "teapot", "message": "short and stout", "field": "spout"},
    }


@pytest.mark.parametrize(
    ("content", "status", "code", "field"),
    [
        (b"{not json", 400, "malformed_json", None),
        (b'{"name": 5}', 422, "invalid_request", "name"),
        (b'{"name": "ok", "bogus": 1}', 422, "invalid_request", "bogus"),
        (b'{"payment_approval_threshold": -1}', 422, "invalid_request", "payment_approval_threshold"),
        (b"[]", 422, "invalid_request", None),
    ],
)
async def test_bad_bodies_are_4xx_naming_the_field(
    client: httpx.AsyncClient,
    make_merchant: Callable[..., Shop],
    content: bytes,
    status: int,
    code: str,
    field: str | None,
) -> None:
    m = make_merchant()
    headers = m.headers | {"Content-Type": "application/json"}
    resp = await client.patch("/v1/merchant", content=content, headers=headers)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    if field is not None:
        assert err["field"] == field


async def test_unknown_route_and_method_stay_in_the_envelope(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/nowhere")
    assert resp.status_code == 404
    assert resp.json()["success"] is False
    resp = await client.delete("/v1/merchant")
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


async def test_patch_thresholds_round_trip(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant()
    resp = await client.patch(
        "/v1/merchant",
        json={"payment_approval_threshold": 50000, "quote_auto_approve_below": 1000},
        headers=m.headers,
    )
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["payment_approval_threshold"] == 50000
    assert data["quote_auto_approve_below"] == 1000
    assert data["refund_approval_threshold"] is None
    cleared = await client.patch("/v1/merchant", json={"payment_approval_threshold": None}, headers=m.headers)
    assert cleared.json()["data"]["payment_approval_threshold"] is None
    assert cleared.json()["data"]["quote_auto_approve_below"] == 1000


async def test_idempotency_key_header_rules(
    client: httpx.AsyncClient, app: FastAPI, make_merchant: Callable[..., Shop]
) -> None:
    add_test_router(app)
    m = make_merchant()
    missing = await client.post("/v1/test/things", json={"amount": 1}, headers=m.headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "Idempotency-Key"
    first = await client.post(
        "/v1/test/things", json={"amount": 1}, headers=m.headers | {"Idempotency-Key": "o-1"}
    )
    again = await client.post(
        "/v1/test/things", json={"amount": 1}, headers=m.headers | {"Idempotency-Key": "o-1"}
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["data"] == again.json()["data"] == f"thing/{m.id}/o-1"
    other = await client.post(
        "/v1/test/things", json={"amount": 2}, headers=m.headers | {"Idempotency-Key": "o-1"}
    )
    assert other.status_code == 409
    assert "different request body" in other.json()["error"]["message"]


def test_idempotent_request_is_per_merchant_and_scope(
    pg_ledger: Ledger, make_merchant: Callable[..., Shop]
) -> None:
    a, b = make_merchant(), make_merchant()
    assert idempotent_request(pg_ledger, a.id, "payment", "k", {"x": 1}) == f"payment/{a.id}/k"
    assert idempotent_request(pg_ledger, b.id, "payment", "k", {"x": 2}) == f"payment/{b.id}/k"
    assert idempotent_request(pg_ledger, a.id, "refund", "k", {"x": 3}) == f"refund/{a.id}/k"
    assert idempotent_request(pg_ledger, a.id, "payment", "k", {"x": 1}) == f"payment/{a.id}/k"
    with pytest.raises(ApiError) as info:
        idempotent_request(pg_ledger, a.id, "payment", "k", {"x": 9})
    assert info.value.status == 409


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/merchant" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_values_the_database_cannot_store_are_422(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant()
    resp = await client.patch("/v1/merchant", json={"name": "nul\u0000byte"}, headers=m.headers)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_value"
    resp = await client.delete("/v1/merchant/api-keys/key%00x", headers=m.headers)
    assert resp.status_code in (404, 422)
