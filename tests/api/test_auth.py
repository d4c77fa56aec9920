"""API keys over HTTP: missing, malformed, unknown, revoked keys, scopes, merchant isolation, admin."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import text

from billflow.ledger.db import Ledger
from billflow.security import hash_key
from tests.api.conftest import ADMIN_TOKEN, Shop


async def test_missing_key_is_401_in_the_envelope(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/merchant")
    assert resp.status_code == 401
    body = resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["field"] == "X-API-Key"


async def test_malformed_and_unknown_keys_are_401(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant()
    forged = m.key[:-4] + ("AAAA" if not m.key.endswith("AAAA") else "BBBB")  # right prefix, wrong secret
    for key in ["nonsense", "bf_zzzzzzzzzzzz_" + "x" * 43, forged]:
        resp = await client.get("/v1/merchant", headers={"X-API-Key": key})
        assert resp.status_code == 401, key
    assert (await client.get("/v1/merchant", headers=m.headers)).status_code == 200


async def test_valid_key_reads_own_merchant(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    m = make_merchant("acme")
    resp = await client.get("/v1/merchant", headers=m.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True
    assert body["data"]["id"] == m.id
    assert body["data"]["name"] == "acme"


async def test_keys_are_stored_only_as_hashes(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop], pg_ledger: Ledger
) -> None:
    m = make_merchant()
    with pg_ledger.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT prefix, key_hash FROM api_keys WHERE merchant_id = :m"), {"m": m.id}
        ).all()
    assert len(rows) == 1
    prefix, stored = rows[0]
    assert m.key.startswith(prefix + "_")
    assert stored == hash_key(m.key)
    assert m.key not in stored


async def test_revoked_key_is_401(client: httpx.AsyncClient, make_merchant: Callable[..., Shop]) -> None:
    m = make_merchant()
    created = await client.post("/v1/merchant/api-keys", json={"name": "ci"}, headers=m.headers)
    assert created.status_code == 201
    second = created.json()["data"]
    assert second["key"].startswith("bf_")
    listed = (await client.get("/v1/merchant/api-keys", headers=m.headers)).json()["data"]
    assert {k["id"] for k in listed} >= {second["id"]}
    assert all("key" not in k for k in listed)
    assert (await client.get("/v1/merchant", headers={"X-API-Key": second["key"]})).status_code == 200
    revoked = await client.delete(f"/v1/merchant/api-keys/{second['id']}", headers=m.headers)
    assert revoked.status_code == 200
    assert revoked.json()["data"]["revoked_at"] is not None
    resp = await client.get("/v1/merchant", headers={"X-API-Key": second["key"]})
    assert resp.status_code == 401
    assert (await client.get("/v1/merchant", headers=m.headers)).status_code == 200


async def test_missing_scope_is_403(client: httpx.AsyncClient, make_merchant: Callable[..., Shop]) -> None:
    m = make_merchant(scopes=["payments:read"])
    resp = await client.get("/v1/merchant", headers=m.headers)
    assert resp.status_code == 403
    assert "merchant:read" in resp.json()["error"]["message"]
    ro = make_merchant(scopes=["merchant:read"])
    assert (await client.get("/v1/merchant", headers=ro.headers)).status_code == 200
    resp = await client.patch("/v1/merchant", json={"name": "x"}, headers=ro.headers)
    assert resp.status_code == 403


async def test_another_merchants_key_is_404(
    client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    a, b = make_merchant("a"), make_merchant("b")
    a_keys = (await client.get("/v1/merchant/api-keys", headers=a.headers)).json()["data"]
    resp = await client.delete(f"/v1/merchant/api-keys/{a_keys[0]['id']}", headers=b.headers)
    assert resp.status_code == 404
    assert (await client.get("/v1/merchant", headers=a.headers)).status_code == 200


async def test_admin_api_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/admin/merchants", json={"name": "x"})).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.post("/v1/admin/merchants", json={"name": "x"}, headers=bad)).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = await client.post(
        "/v1/admin/merchants", json={"name": "via-admin", "scopes": ["merchant:read"]}, headers=admin
    )
    assert resp.status_code == 201
    data = resp.json()["data"]
    key = data["api_key"]["key"]
    me = await client.get("/v1/merchant", headers={"X-API-Key": key})
    assert me.json()["data"]["id"] == data["merchant"]["id"]
    assert (
        await client.patch("/v1/merchant", json={"name": "y"}, headers={"X-API-Key": key})
    ).status_code == 403
    bad_scope = await client.post(
        "/v1/admin/merchants", json={"name": "x", "scopes": ["root"]}, headers=admin
    )
    assert bad_scope.status_code == 422
    assert bad_scope.json()["error"]["field"].startswith("scopes")
