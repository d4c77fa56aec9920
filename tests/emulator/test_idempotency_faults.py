"""Idempotency (SEMANTICS §4), fault injection and the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import stripe

pytestmark = [
    pytest.mark.asyncio,
    # The SDK's own httpx client triggers this warning; it is not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload:DeprecationWarning"),
]

PI = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


async def audit(control: httpx.AsyncClient, kind: str = "charge") -> list[dict[str, Any]]:
    resp = await control.get("/_emulator/audit")
    assert resp.status_code == 200
    return [e for e in resp.json()["data"] if e["kind"] == kind and e["status"] == "succeeded"]


async def test_replay_same_key_same_params(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    first = await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "pay-1"})
    again = await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "pay-1"})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert again.last_response.idempotency_key == "pay-1"
    entries = await audit(control)
    assert (
        len(entries) == 1
        and entries[0]["idempotency_key"] == "pay-1"
        and entries[0]["payment_intent"] == first.id
    )


async def test_mismatch_params_or_endpoint(client: stripe.StripeClient) -> None:
    await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "pay-2"})
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.payment_intents.create_async(
            params={**PI, "amount": 1600}, options={"idempotency_key": "pay-2"}
        )
    with pytest.raises(stripe.IdempotencyError) as exc:
        await client.v1.customers.create_async(options={"idempotency_key": "pay-2"})
    assert "/v1/payment_intents" in str(exc.value)


async def test_keys_are_scoped_per_account(client: stripe.StripeClient, base_url: str) -> None:
    a = await client.v1.customers.create_async(options={"idempotency_key": "shared"})
    other = stripe.StripeClient("sk_test_other_account_42", base_addresses={"api": base_url})
    b = await other.v1.customers.create_async(options={"idempotency_key": "shared"})
    assert a.id != b.id


async def test_declines_are_stored_validation_failures_are_not(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    declined = {**PI, "payment_method": "pm_card_chargeDeclined"}
    with pytest.raises(stripe.CardError) as first:
        await client.v1.payment_intents.create_async(params=declined, options={"idempotency_key": "dec-1"})
    with pytest.raises(stripe.CardError) as second:
        await client.v1.payment_intents.create_async(params=declined, options={"idempotency_key": "dec-1"})
    assert first.value.error.payment_intent.id == second.value.error.payment_intent.id
    assert second.value.headers is not None and second.value.headers.get("Idempotent-Replayed") == "true"
    resp = await control.get("/_emulator/audit")
    assert len([e for e in resp.json()["data"] if e["status"] == "failed"]) == 1
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async(
            params={"currency": "usd"}, options={"idempotency_key": "val-1"}
        )
    ok = await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "val-1"})
    assert ok.status == "succeeded"


async def test_concurrent_same_key_is_409(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    await control.post(
        "/_emulator/faults",
        json={"endpoints": [{"method": "POST", "path": "/v1/customers", "latency_ms": 300}]},
    )
    results = await asyncio.gather(
        client.v1.customers.create_async(options={"idempotency_key": "slow"}),
        client.v1.customers.create_async(options={"idempotency_key": "slow"}),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], stripe.APIError)
    assert errors[0].http_status == 409
    assert errors[0].error is not None and errors[0].error.code == "idempotency_key_in_use"


async def test_keys_expire_after_24h_of_emulator_time(
    client: stripe.StripeClient, control: httpx.AsyncClient, base_url: str
) -> None:
    await client.v1.customers.create_async(params={"email": "a@x.io"}, options={"idempotency_key": "old"})
    resp = await control.post("/_emulator/clock/advance", json={"seconds": 24 * 3600 + 1})
    assert resp.json()["offset"] >= 24 * 3600
    fresh = await client.v1.customers.create_async(
        params={"email": "b@x.io"}, options={"idempotency_key": "old"}
    )
    assert fresh.email == "b@x.io"
    await control.post("/_emulator/clock/advance", json={"seconds": -(24 * 3600 + 1)})


async def test_commit_then_drop_and_retry(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    fault = {
        "seed": 7,
        "endpoints": [{"method": "POST", "path": "/v1/payment_intents", "drop_after_commit_rate": 1.0}],
    }
    assert (await control.post("/_emulator/faults", json=fault)).status_code == 200
    assert (await control.get("/_emulator/faults")).json()["endpoints"][0]["drop_after_commit_rate"] == 1.0
    with pytest.raises(stripe.APIConnectionError):
        await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "drop-1"})
    await control.delete("/_emulator/faults")
    # The write happened: a retry with the same key replays it -> still exactly one charge.
    retried = await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "drop-1"})
    assert retried.status == "succeeded"
    entries = await audit(control)
    assert len(entries) == 1 and entries[0]["payment_intent"] == retried.id
    # A retry with a new key is a new payment -> two charges.
    await control.post("/_emulator/faults", json=fault)
    with pytest.raises(stripe.APIConnectionError):
        await client.v1.payment_intents.create_async(params=PI, options={"idempotency_key": "drop-2"})
    await control.delete("/_emulator/faults")
    entries = await audit(control)
    assert len(entries) == 2 and {e["idempotency_key"] for e in entries} == {"drop-1", "drop-2"}


async def test_injected_500_and_429(
    client: stripe.StripeClient, control: httpx.AsyncClient, api_key: str, base_url: str
) -> None:
    await control.post(
        "/_emulator/faults",
        json={
            "endpoints": [
                {"method": "GET", "path": "/v1/customers", "error_500_rate": 1.0, "should_retry": False},
                {"method": "POST", "path": "/v1/customers", "rate_limit_429_rate": 1.0},
            ]
        },
    )
    with pytest.raises(stripe.APIError) as exc500:
        await client.v1.customers.list_async()
    assert exc500.value.http_status == 500 and exc500.value.headers.get("Stripe-Should-Retry") == "false"
    with pytest.raises(stripe.RateLimitError) as exc429:
        await client.v1.customers.create_async(options={"idempotency_key": "rl-1"})
    assert exc429.value.headers.get("Stripe-Should-Retry") == "true"
    # 429s are not stored under the key.
    await control.delete("/_emulator/faults")
    created = await client.v1.customers.create_async(options={"idempotency_key": "rl-1"})
    assert created.id.startswith("cus_")
    # The SDK retries 500s (when allowed) with the same key.
    await control.post(
        "/_emulator/faults",
        json={"seed": 3, "endpoints": [{"method": "GET", "path": "/v1/customers*", "error_500_rate": 0.5}]},
    )
    retrying = stripe.StripeClient(api_key, base_addresses={"api": base_url}, max_network_retries=8)
    listed = await retrying.v1.customers.list_async()
    assert listed.to_dict()["object"] == "list"


async def test_token_bucket_rate_limit(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    await control.post("/_emulator/faults", json={"rate_limit_per_second": 2, "rate_limit_burst": 2})
    outcomes = []
    for _ in range(5):
        try:
            await client.v1.customers.list_async()
            outcomes.append("ok")
        except stripe.RateLimitError as exc:
            assert exc.error is not None and exc.error.code == "rate_limit" and exc.http_status == 429
            outcomes.append("429")
    assert outcomes[:2] == ["ok", "ok"] and "429" in outcomes


async def test_invalid_fault_config_is_400(control: httpx.AsyncClient) -> None:
    resp = await control.post("/_emulator/faults", json={"endpoints": [{"error_500_rate": 3}]})
    assert resp.status_code == 400


async def test_health(control: httpx.AsyncClient) -> None:
    resp = await control.get("/_emulator/health")
    assert resp.json()["status"] == "ok"


async def test_injected_faults_are_counted_until_reset(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_emulator/reset")
    fault = {
        "endpoints": [
            {"method": "GET", "path": "/v1/customers", "error_500_rate": 1.0},
            {"method": "POST", "path": "/v1/customers", "rate_limit_429_rate": 1.0},
            {"method": "POST", "path": "/v1/payment_intents", "drop_after_commit_rate": 1.0},
        ]
    }
    await control.post("/_emulator/faults", json=fault)
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            await client.v1.customers.list_async()
    with pytest.raises(stripe.RateLimitError):
        await client.v1.customers.create_async()
    with pytest.raises(stripe.APIConnectionError):
        await client.v1.payment_intents.create_async(params=PI)
    await control.delete("/_emulator/faults")  # clearing the faults keeps what was counted
    await client.v1.customers.list_async()
    counted = (await control.get("/_emulator/faults/injected")).json()
    assert counted == {"error_500": 2, "rate_limit_429": 1, "drop_after_commit": 1}
    await control.post("/_emulator/reset")
    assert (await control.get("/_emulator/faults/injected")).json() == {}
