"""Stripe credentials over HTTP against the emulator: verification, masking, encryption at rest,
webhook endpoint registration, and the emulator's signed deliveries reaching a waiting workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import stripe
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select, text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.harness.ports import free_port
from billflow.config import Settings
from billflow.crypto import SecretBox, mask
from billflow.ledger import WebhookEvent
from billflow.ledger.db import Ledger
from starter.api import create_app
from stripe_emulator.server import EmulatorServer
from tests.api.conftest import ADMIN_TOKEN, Shop
from tests.api.signal_workflow import WaitForStripeEvents


@pytest.fixture
def stripe_key() -> str:
    return f"sk_test_{uuid.uuid4().hex}"  # the emulator gives every key its own account


@pytest.fixture
def emu_settings(pg_url: str, emulator: EmulatorServer) -> Settings:
    return Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        admin_token=SecretStr(ADMIN_TOKEN),
        stripe_api_base=emulator.base_url,
    )


@pytest.fixture
async def emu_client(emu_settings: Settings, pg_ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings=emu_settings, ledger=pg_ledger)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billflow.test"
    ) as c:
        yield c


def stripe_client(key: str, emulator: EmulatorServer) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": emulator.base_url}, max_network_retries=0)


async def put_stripe(
    client: httpx.AsyncClient, shop: Shop, key: str, whsec: str | None = None
) -> httpx.Response:
    creds = {"secret_key": key} | ({"webhook_secret": whsec} if whsec else {})
    return await client.put(
        "/v1/merchant/providers", json={"provider": "stripe", "stripe": creds}, headers=shop.headers
    )


async def test_good_key_is_verified_masked_and_encrypted_at_rest(
    emu_client: httpx.AsyncClient,
    make_merchant: Callable[..., Shop],
    emulator: EmulatorServer,
    stripe_key: str,
    pg_ledger: Ledger,
    emu_settings: Settings,
) -> None:
    shop = make_merchant()
    whsec = f"whsec_{uuid.uuid4().hex}"
    expected = await stripe_client(stripe_key, emulator).v1.accounts.retrieve_current_async()
    resp = await put_stripe(emu_client, shop, stripe_key, whsec)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["account_id"] == expected.id
    assert "connection successful" in data["message"]
    assert data["webhook_endpoint_id"] is None  # no BILLFLOW_PUBLIC_URL
    assert stripe_key not in resp.text and whsec not in resp.text

    shown = (await emu_client.get("/v1/merchant/providers", headers=shop.headers)).json()["data"]["stripe"]
    assert shown["secret_key"] == f"sk_test_…{stripe_key[-4:]}"
    assert shown["webhook_secret"] == mask(whsec) == f"…{whsec[-4:]}"
    assert shown["account_id"] == expected.id
    me = (await emu_client.get("/v1/merchant", headers=shop.headers)).json()["data"]
    assert me["stripe_connected"] is True and me["stripe_account_id"] == expected.id

    hook = await emu_client.put(
        "/v1/merchant/webhook", json={"url": "https://shop.example/hooks"}, headers=shop.headers
    )
    signing_secret = hook.json()["data"]["signing_secret"]
    assert signing_secret.startswith("bfwhsec_")
    assert signing_secret not in (await emu_client.get("/v1/merchant", headers=shop.headers)).text

    with pg_ledger.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT stripe_secret_key_enc, stripe_webhook_secret_enc, webhook_signing_secret_enc"
                " FROM merchants WHERE id = :id"
            ),
            {"id": shop.id},
        ).one()
    box = SecretBox(emu_settings.encryption_key.get_secret_value())
    for raw, plain in zip(row, (stripe_key, whsec, signing_secret), strict=True):
        assert plain not in raw and plain[-12:] not in raw
        assert box.decrypt(raw) == plain


@pytest.mark.parametrize("key", ["sk_live_notanemulatorkey", "rk_live_zzzzzzzzzzzzzzzz"])
async def test_invalid_key_is_a_clear_400_and_saves_nothing(
    emu_client: httpx.AsyncClient, make_merchant: Callable[..., Shop], key: str
) -> None:
    shop = make_merchant()
    resp = await put_stripe(emu_client, shop, key)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "stripe_invalid_key"
    assert err["field"] == "stripe.secret_key"
    assert key not in resp.text
    shown = (await emu_client.get("/v1/merchant/providers", headers=shop.headers)).json()["data"]
    assert shown == {"stripe": None}


async def test_malformed_key_never_reaches_stripe(
    emu_client: httpx.AsyncClient, make_merchant: Callable[..., Shop]
) -> None:
    shop = make_merchant()
    resp = await put_stripe(emu_client, shop, "pk_test_publishable")
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "stripe.secret_key"


async def test_unreachable_stripe_is_502(
    settings: Settings, pg_ledger: Ledger, make_merchant: Callable[..., Shop], stripe_key: str
) -> None:
    down = settings.model_copy(update={"stripe_api_base": f"http://127.0.0.1:{free_port()}"})
    app = create_app(settings=down, ledger=pg_ledger)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        resp = await put_stripe(client, make_merchant(), stripe_key)
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "stripe_unreachable"


@pytest.fixture
async def live_api(
    emu_settings: Settings, pg_ledger: Ledger, dev_env: WorkflowEnvironment
) -> AsyncIterator[tuple[str, Settings]]:
    """billflow's API under uvicorn on a free port, reachable by the emulator's webhook deliveries."""
    port = free_port()
    settings = emu_settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", settings
    server.should_exit = True
    await task


@pytest.mark.devserver
async def test_public_url_registers_one_endpoint_and_stripe_events_reach_the_workflow(
    live_api: tuple[str, Settings],
    make_merchant: Callable[..., Shop],
    emulator: EmulatorServer,
    stripe_key: str,
    pg_ledger: Ledger,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    base, settings = live_api
    shop = make_merchant()
    sc = stripe_client(stripe_key, emulator)
    async with httpx.AsyncClient(base_url=base) as api:
        first = await put_stripe(api, shop, stripe_key)
        assert first.status_code == 200, first.text
        endpoint_id = first.json()["data"]["webhook_endpoint_id"]
        assert first.json()["data"]["webhook_registered"] is True
        again = await put_stripe(api, shop, stripe_key)  # re-save: no twin endpoint
        assert again.json()["data"]["webhook_endpoint_id"] == endpoint_id
        assert again.json()["data"]["webhook_registered"] is False
        shown = (await api.get("/v1/merchant/providers", headers=shop.headers)).json()["data"]["stripe"]
        assert shown["webhook_secret"].startswith("…")
    endpoints = await sc.v1.webhook_endpoints.list_async()
    assert [(e.id, e.url, e.enabled_events) for e in endpoints.data] == [
        (endpoint_id, f"{base}/v1/webhooks/stripe/{shop.id}", ["*"])
    ]

    # A PaymentIntent tagged with a workflow id: the emulator's signed webhook wakes that workflow.
    wid = f"payment/{shop.id}/{uuid.uuid4().hex}"
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitForStripeEvents]):
        handle = await dev_env.client.start_workflow(
            WaitForStripeEvents.run, 1, id=wid, task_queue=task_queue
        )
        pi = await sc.v1.payment_intents.create_async(
            {"amount": 1250, "currency": "eur", "metadata": {"workflow_id": wid}}
        )
        got = await asyncio.wait_for(handle.result(), timeout=60)
    assert got[0].object_id == pi.id
    assert got[0].object_type == "payment_intent"
    with pg_ledger.session() as session:
        row = session.scalar(select(WebhookEvent).where(WebhookEvent.stripe_event_id == got[0].event_id))
    assert row is not None and row.status == "routed" and row.merchant_id == shop.id
