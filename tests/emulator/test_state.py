"""State file persistence, reset, seeds, and the ``python -m stripe_emulator`` entry point."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import stripe

from stripe_emulator.__main__ import main as cli_main
from stripe_emulator.server import EmulatorServer, create_app, run_in_thread

from .shapes import check_object

pytestmark = [
    pytest.mark.asyncio,
    # The SDK's own httpx client triggers this warning; it is not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload:DeprecationWarning"),
]
KEY = "sk_test_persistence_0001"


async def test_state_file_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EmulatorServer(create_app(state_file=state)) as server:
        client = stripe.StripeClient(KEY, base_addresses={"api": server.base_url})
        cus = await client.v1.customers.create_async(
            params={"email": "keep@example.com"}, options={"idempotency_key": "persist-1"}
        )
        pi = await client.v1.payment_intents.create_async(
            params={"amount": 900, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
    assert state.exists()
    with EmulatorServer(create_app(state_file=state)) as server:
        client = stripe.StripeClient(KEY, base_addresses={"api": server.base_url})
        got = await client.v1.customers.retrieve_async(cus.id)
        assert got.email == "keep@example.com"
        replay = await client.v1.customers.create_async(
            params={"email": "keep@example.com"}, options={"idempotency_key": "persist-1"}
        )
        assert replay.id == cus.id
        assert (await client.v1.payment_intents.retrieve_async(pi.id)).status == "succeeded"
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            audit = (await http.get("/_emulator/audit", params={"api_key": KEY})).json()["data"]
            assert [a["payment_intent"] for a in audit] == [pi.id]


async def test_reset_clears_everything_and_seed_is_reproducible() -> None:
    ids = []
    for _ in range(2):
        with run_in_thread(seed=99) as base_url:
            client = stripe.StripeClient(KEY, base_addresses={"api": base_url})
            first = await client.v1.customers.create_async()
            ids.append(first.id)
            async with httpx.AsyncClient(base_url=base_url) as http:
                assert (await http.post("/_emulator/reset")).json() == {"reset": True}
            with pytest.raises(stripe.InvalidRequestError):
                await client.v1.customers.retrieve_async(first.id)
            again = await client.v1.customers.create_async()
            assert again.id == first.id  # reset also rewinds the seeded id sequence
    assert ids[0] == ids[1]


async def test_invoice_items_events_and_lists_match_sdk_shapes(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    pending = await client.v1.invoice_items.create_async(
        params={"customer": cus.id, "amount": 700, "currency": "usd"}
    )
    check_object(pending)
    assert pending.invoice is None
    inv = await client.v1.invoices.create_async(
        params={"customer": cus.id, "pending_invoice_items_behavior": "include"}
    )
    assert inv.amount_due == 700
    item = await client.v1.invoice_items.retrieve_async(pending.id)
    assert item.invoice == inv.id
    item = await client.v1.invoice_items.update_async(pending.id, params={"description": "Seven"})
    assert item.description == "Seven"
    listed = await client.v1.invoice_items.list_async(params={"invoice": inv.id})
    check_object(listed)
    assert (await client.v1.invoice_items.delete_async(pending.id)).deleted is True
    assert (await client.v1.invoices.retrieve_async(inv.id)).amount_due == 0
    events = await client.v1.events.list_async(params={"limit": 100})
    check_object(events)
    assert {"invoiceitem.created", "invoice.created", "invoiceitem.deleted"} <= {e.type for e in events.data}
    for listing in (
        await client.v1.customers.list_async(),
        await client.v1.invoices.list_async(),
        await client.v1.charges.list_async(),
    ):
        check_object(listing)


async def test_setup_intent_3ds_failure(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    cus = await client.v1.customers.create_async()
    si = await client.v1.setup_intents.create_async(
        params={"customer": cus.id, "payment_method": "pm_card_threeDSecure2Required", "confirm": True}
    )
    assert si.status == "requires_action"
    resp = await control.post(f"/_emulator/3ds/{si.id}/fail")
    assert resp.json()["status"] == "requires_payment_method"
    si = await client.v1.setup_intents.retrieve_async(si.id)
    check_object(si)
    assert (
        si.last_setup_error is not None and si.last_setup_error.code == "setup_intent_authentication_failure"
    )
    again = await control.post(f"/_emulator/3ds/{si.id}/complete")
    assert again.status_code == 400


async def test_cli_parses_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_run(app: object, **kwargs: object) -> None:
        seen.update(kwargs, app=app)

    monkeypatch.setattr("stripe_emulator.__main__.uvicorn.run", fake_run)
    cli_main(["--host", "127.0.0.1", "--port", "12111", "--seed", "5"])
    assert seen["port"] == 12111 and seen["host"] == "127.0.0.1"


@pytest.mark.asyncio
async def test_stats_count_responses_by_status(base_url: str, api_key: str) -> None:
    import httpx

    client = stripe.StripeClient(api_key, base_addresses={"api": base_url}, max_network_retries=0)
    await client.v1.customers.create_async(params={"email": "a@example.com"})
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.customers.retrieve_async("cus_missing0000")
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        stats = (await http.get("/_emulator/stats")).json()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"200": 1, "404": 1}
    assert stats["by_route"] == {"POST /v1/customers": 1, "GET /v1/customers/{id}": 1}


@pytest.mark.asyncio
async def test_stats_can_start_afresh_for_one_account(base_url: str, api_key: str) -> None:
    import httpx

    client = stripe.StripeClient(api_key, base_addresses={"api": base_url}, max_network_retries=0)
    await client.v1.customers.create_async(params={"email": "a@example.com"})
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        (await http.delete("/_emulator/stats")).raise_for_status()
        assert (await http.get("/_emulator/stats")).json()["requests"] == 0
        await client.v1.customers.create_async(params={"email": "b@example.com"})
        stats = (await http.get("/_emulator/stats")).json()
    assert stats["requests"] == 1 and stats["by_route"] == {"POST /v1/customers": 1}
