"""Fixtures: one in-process emulator per test session on a free port; one account per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import stripe

from stripe_emulator.server import EmulatorServer, create_app


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(create_app(seed=1234, webhook_retry_base_seconds=0.02, webhook_max_attempts=4))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def base_url(emulator: EmulatorServer) -> str:
    return emulator.base_url


@pytest.fixture
def api_key() -> str:
    """A fresh secret key, i.e. a fresh, isolated emulator account."""
    return f"sk_test_{uuid.uuid4().hex}"


@pytest.fixture
def client(api_key: str, base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": base_url}, max_network_retries=0)


@pytest_asyncio.fixture
async def control(base_url: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP client for ``/_emulator`` controls (authorised as this test's account)."""
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10
    ) as http:
        yield http
        await http.delete("/_emulator/faults")


async def customer_with_card(client: stripe.StripeClient, pm: str = "pm_card_visa", **extra: Any) -> tuple[stripe.Customer, str]:
    """A customer with ``pm`` attached and set as the invoice default."""
    cus = await client.v1.customers.create_async(params={"email": "buyer@example.com", **extra})
    attached = await client.v1.payment_methods.attach_async(pm, params={"customer": cus.id})
    cus = await client.v1.customers.update_async(
        cus.id, params={"invoice_settings": {"default_payment_method": attached.id}}
    )
    return cus, attached.id
