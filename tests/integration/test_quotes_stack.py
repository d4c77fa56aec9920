"""The stack the quote and catalogue integration tests share (fixtures only, no tests here).

The Stripe emulator over HTTP on a free port, the Temporal dev server, PostgreSQL, a worker with
every workflow and activity, and the API app with a merchant whose Stripe key points at the emulator.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant, save_stripe_credentials
from starter.api import create_app
from stripe_emulator import run_in_thread
from worker import build_worker


@dataclass
class Stack:
    http: httpx.AsyncClient
    stripe: stripe.StripeClient
    merchant_id: str
    ledger: Ledger
    temporal: Client

    async def call(
        self, method: str, path: str, json: Any = None, *, key: str | None = None, **params: Any
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex} if method != "GET" else {}
        body = {"json": json} if json is not None else {}
        return await self.http.request(method, path, headers=headers, params=params or None, **body)

    async def ok(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        response = await self.call(method, path, json, **params)
        assert response.status_code < 300, response.text
        body = response.json()
        assert body["success"] is True
        return body["data"]

    async def fails(
        self, status: int, method: str, path: str, json: Any = None, **params: Any
    ) -> dict[str, Any]:
        response = await self.call(method, path, json, **params)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["success"] is False and body["error"]["message"]
        error: dict[str, Any] = body["error"]
        return error


async def eventually(check: Callable[[], Awaitable[bool]], what: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with run_in_thread() as url:
        yield url


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, pg_url: str, pg_ledger: Ledger, task_queue: str, emulator_url: str
) -> AsyncIterator[Stack]:
    settings = Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        temporal_task_queue=task_queue,
        stripe_api_base=emulator_url,
    )
    merchant, api_key = create_merchant(pg_ledger, f"quotes-{uuid.uuid4().hex[:6]}")
    secret = f"sk_test_{uuid.uuid4().hex}"
    box = SecretBox(settings.encryption_key.get_secret_value())
    save_stripe_credentials(
        pg_ledger,
        box,
        merchant.id,
        secret_key=secret,
        account_id="acct_emulated",
        webhook_secret=None,
        webhook_endpoint_id=None,
    )
    deps = Deps.build(settings)
    app = create_app(settings=settings, ledger=pg_ledger, temporal_client=dev_env.client)
    sdk = stripe.StripeClient(secret, base_addresses={"api": emulator_url}, max_network_retries=0)
    async with (
        build_worker(dev_env.client, deps, task_queue=task_queue),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://billflow",
            headers={"X-API-Key": api_key.key},
        ) as http,
    ):
        yield Stack(http=http, stripe=sdk, merchant_id=merchant.id, ledger=pg_ledger, temporal=dev_env.client)
    deps.ledger.dispose()
