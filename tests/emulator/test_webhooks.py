"""Webhook delivery: signatures checked with the SDK, filtering, retries, duplication, loss."""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
import stripe

from stripe_emulator.server import EmulatorServer, create_app

pytestmark = [
    pytest.mark.asyncio,
    # The SDK's own httpx client triggers this warning; it is not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload:DeprecationWarning"),
]


class Receiver:
    """Stands in for a merchant's webhook endpoint (reached through an httpx MockTransport)."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.events: dict[str, list[stripe.Event]] = collections.defaultdict(list)
        self.attempts: collections.Counter[str] = collections.Counter()
        self.fail_first: dict[str, int] = {}
        self.bad_signatures = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.attempts[path] += 1
        if self.attempts[path] <= self.fail_first.get(path, 0):
            return httpx.Response(503)
        try:
            event = stripe.Webhook.construct_event(
                request.content.decode(), request.headers["stripe-signature"], self.secrets[path]
            )
        except (stripe.SignatureVerificationError, KeyError, ValueError):
            self.bad_signatures += 1
            return httpx.Response(400)
        self.events[path].append(event)
        return httpx.Response(200)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(scope="module")
def hook_server(receiver: Receiver) -> Iterator[EmulatorServer]:
    app = create_app(
        webhook_transport=httpx.MockTransport(receiver.handle),
        webhook_retry_base_seconds=0.01,
        webhook_max_attempts=4,
    )
    server = EmulatorServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hclient(hook_server: EmulatorServer, api_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": hook_server.base_url}, max_network_retries=0)


@pytest_asyncio.fixture
async def hcontrol(hook_server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hook_server.base_url) as http:
        yield http
        await http.delete("/_emulator/faults")


async def endpoint(client: stripe.StripeClient, receiver: Receiver, events: list[str]) -> str:
    path = f"/hooks/{uuid.uuid4().hex}"
    ep = await client.v1.webhook_endpoints.create_async(
        params={"url": f"https://merchant.example{path}", "enabled_events": events}
    )
    assert ep.secret is not None and ep.secret.startswith("whsec_") and ep.status == "enabled"
    receiver.secrets[path] = ep.secret
    return path


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for webhook"
        await asyncio.sleep(0.02)


async def test_signed_delivery_filtered_by_type(hclient: stripe.StripeClient, receiver: Receiver) -> None:
    path = await endpoint(hclient, receiver, ["payment_intent.succeeded"])
    everything = await endpoint(hclient, receiver, ["*"])
    pi = await hclient.v1.payment_intents.create_async(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        options={"idempotency_key": "hook-1"},
    )
    await wait_for(lambda: len(receiver.events[path]) >= 1 and len(receiver.events[everything]) >= 3)
    event = receiver.events[path][0]
    assert event.type == "payment_intent.succeeded" and event.id.startswith("evt_")
    assert isinstance(event.data.object, stripe.PaymentIntent) and event.data.object.id == pi.id
    assert event.request is not None and event.request.idempotency_key == "hook-1"
    assert event.api_version == "2026-10-28.endive"
    types = {e.type for e in receiver.events[everything]}
    assert {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"} <= types
    assert receiver.bad_signatures == 0
    stored = await hclient.v1.events.retrieve_async(event.id)
    await wait_for(lambda: True)
    assert stored.type == "payment_intent.succeeded"


async def test_retry_after_non_2xx(
    hclient: stripe.StripeClient, receiver: Receiver, hcontrol: httpx.AsyncClient
) -> None:
    path = await endpoint(hclient, receiver, ["customer.created"])
    receiver.fail_first[path] = 2
    await hclient.v1.customers.create_async()
    await wait_for(lambda: len(receiver.events[path]) == 1)
    assert receiver.attempts[path] == 3
    log = (await hcontrol.get("/_emulator/webhooks/deliveries")).json()["data"]
    statuses = [d["status"] for d in log if d["url"].endswith(path)]
    assert statuses == [503, 503, 200]


async def test_duplication_fault(
    hclient: stripe.StripeClient, receiver: Receiver, hcontrol: httpx.AsyncClient
) -> None:
    await hcontrol.post("/_emulator/faults", json={"seed": 1, "webhooks": {"duplicate_rate": 1.0}})
    path = await endpoint(hclient, receiver, ["customer.created"])
    cus = await hclient.v1.customers.create_async()
    await wait_for(lambda: len(receiver.events[path]) == 2)
    first, second = receiver.events[path]
    assert first.id == second.id and first.data.object.id == cus.id


async def test_loss_then_retry_and_reorder(
    hclient: stripe.StripeClient, receiver: Receiver, hcontrol: httpx.AsyncClient
) -> None:
    await hcontrol.post(
        "/_emulator/faults",
        json={
            "seed": 2,
            "webhooks": {"loss_rate": 1.0, "reorder_rate": 1.0, "delay_rate": 1.0, "delay_ms": 20},
        },
    )
    path = await endpoint(hclient, receiver, ["product.created"])
    for name in ("a", "b", "c"):
        await hclient.v1.products.create_async(params={"name": name})
    await wait_for(lambda: len(receiver.events[path]) == 3)
    assert receiver.attempts[path] == 3  # each event's first attempt was lost, then retried
    assert {e.data.object.name for e in receiver.events[path]} == {"a", "b", "c"}


async def test_events_api_and_previous_attributes(hclient: stripe.StripeClient) -> None:
    cus = await hclient.v1.customers.create_async(params={"name": "Old"})
    await hclient.v1.customers.update_async(cus.id, params={"name": "New"})
    updated = await hclient.v1.events.list_async(params={"type": "customer.updated"})
    assert len(updated.data) == 1
    event = updated.data[0]
    assert event.data.previous_attributes is not None and event.data.previous_attributes["name"] == "Old"
    assert event.data.object.name == "New"
    prefixed = await hclient.v1.events.list_async(params={"type": "customer.*"})
    assert {e.type for e in prefixed.data} == {"customer.created", "customer.updated"}


async def test_webhook_endpoint_crud(hclient: stripe.StripeClient) -> None:
    ep = await hclient.v1.webhook_endpoints.create_async(
        params={"url": "https://merchant.example/x", "enabled_events": ["*"]}
    )
    got = await hclient.v1.webhook_endpoints.retrieve_async(ep.id)
    assert got.url == ep.url and "secret" not in got.to_dict()
    listed = await hclient.v1.webhook_endpoints.list_async()
    assert [e.id for e in listed.data] == [ep.id]
    deleted = await hclient.v1.webhook_endpoints.delete_async(ep.id)
    assert deleted.deleted is True


async def test_default_retries_outlast_a_restart_of_the_receiving_api() -> None:
    # A chaos run restarts the API for a few seconds; Stripe would keep retrying for days. With the
    # old 0.35 s of retries, every event of such a window was lost for good.
    delays = create_app().webhooks.retry_delays()
    assert delays == sorted(delays) and delays[0] > 0
    assert 30 <= sum(delays) <= 300


async def test_emulator_command_refuses_a_webhook_schedule_without_attempts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from stripe_emulator.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--webhook-attempts", "0"])
    assert exited.value.code == 2
    assert "--webhook-attempts must be at least 1" in capsys.readouterr().err
