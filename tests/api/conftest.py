"""The API over HTTP (httpx + ASGITransport) against a migrated PostgreSQL ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from billflow.config import Settings
from billflow.ledger.db import Ledger
from billflow.merchants import create_merchant
from starter.api import create_app
from stripe_emulator.server import EmulatorServer
from stripe_emulator.server import create_app as create_emulator

ADMIN_TOKEN = "test-admin-token"


@dataclass
class Shop:
    id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """The Stripe emulator on a free port (every sk_test_ key is its own account)."""
    server = EmulatorServer(create_emulator(seed=7, webhook_retry_base_seconds=0.05, webhook_max_attempts=5))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(pg_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        admin_token=SecretStr(ADMIN_TOKEN),
        stripe_api_base=None,
        public_url=None,
    )


@pytest.fixture
def app(settings: Settings, pg_ledger: Ledger) -> FastAPI:
    return create_app(settings=settings, ledger=pg_ledger)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://billflow.test") as c:
        yield c


@pytest.fixture
def make_merchant(pg_ledger: Ledger) -> Callable[..., Shop]:
    def _make(name: str = "shop", scopes: list[str] | None = None) -> Shop:
        merchant, key = create_merchant(pg_ledger, name, scopes)
        return Shop(id=merchant.id, key=key.key)

    return _make
