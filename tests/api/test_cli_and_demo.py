"""`billflow merchant …` commands and the demo merchant, on a migrated SQLite ledger."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from billflow.config import DEV_DEMO_API_KEY, Settings, get_settings
from billflow.crypto import SecretBox
from billflow.ledger import Merchant
from billflow.ledger.db import Ledger
from billflow.merchants import MerchantError, authenticate, ensure_demo_merchant
from billflow.security import ALL_SCOPES
from starter.cli import app

KEY = re.compile(r"bf_[0-9a-f]{12}_[A-Za-z0-9_-]+")


@pytest.fixture
def cli_ledger(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setenv("BILLFLOW_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    ledger = Ledger.from_url(sqlite_url)
    yield ledger
    ledger.dispose()
    get_settings.cache_clear()


def test_merchant_create_prints_a_working_key_once_and_keys_can_be_revoked(cli_ledger: Ledger) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["merchant", "create", "Corner Shop", "--scope", "payments:read"])
    assert created.exit_code == 0, created.output
    key = KEY.search(created.output)
    assert key is not None
    authed = authenticate(cli_ledger, key.group(0))
    assert authed is not None and authed.scopes == {"payments:read"}
    merchant_id = authed.merchant_id

    second = runner.invoke(app, ["merchant", "keys", "create", merchant_id, "--name", "ci"])
    assert second.exit_code == 0, second.output
    second_key = KEY.search(second.output)
    assert second_key is not None
    listed = runner.invoke(app, ["merchant", "keys", "list", merchant_id])
    assert listed.exit_code == 0
    assert key.group(0) not in listed.output and second_key.group(0) not in listed.output
    key_id = re.search(r"key (key_[0-9a-f]+)", second.output)
    assert key_id is not None
    revoked = runner.invoke(app, ["merchant", "keys", "revoke", merchant_id, key_id.group(1)])
    assert revoked.exit_code == 0, revoked.output
    assert authenticate(cli_ledger, second_key.group(0)) is None
    assert authenticate(cli_ledger, key.group(0)) is not None

    bad = runner.invoke(app, ["merchant", "create", "x", "--scope", "everything"])
    assert bad.exit_code == 1
    assert "unknown scope" in bad.output
    missing = runner.invoke(app, ["merchant", "keys", "revoke", merchant_id, "key_nope"])
    assert missing.exit_code == 1


def test_demo_merchant_is_idempotent_and_has_every_scope(cli_ledger: Ledger) -> None:
    settings = Settings(environment="development", stripe_secret_key=SecretStr("sk_test_demo_one"))
    first = ensure_demo_merchant(cli_ledger, settings)
    again = ensure_demo_merchant(cli_ledger, settings)
    assert first == again == ("mer_demo", DEV_DEMO_API_KEY)
    authed = authenticate(cli_ledger, DEV_DEMO_API_KEY)
    assert authed is not None and authed.merchant_id == "mer_demo" and authed.scopes == set(ALL_SCOPES)
    box = SecretBox(settings.encryption_key.get_secret_value())
    changed = settings.model_copy(update={"stripe_secret_key": SecretStr("sk_test_demo_two")})
    ensure_demo_merchant(cli_ledger, changed)
    with cli_ledger.session() as session:
        row = session.get(Merchant, "mer_demo")
        assert row is not None and row.stripe_secret_key_enc is not None
        assert "sk_test_demo_two" not in row.stripe_secret_key_enc
        assert box.decrypt(row.stripe_secret_key_enc) == "sk_test_demo_two"


def test_demo_merchant_is_refused_in_production(cli_ledger: Ledger) -> None:
    prod = Settings.model_construct(environment="production")
    with pytest.raises(MerchantError):
        ensure_demo_merchant(cli_ledger, prod)


async def test_demo_step_reaches_the_demo_merchant_over_http(cli_ledger: Ledger, sqlite_url: str) -> None:
    import asyncio
    import socket

    import uvicorn

    from starter.api import create_app
    from starter.demo import demo_merchant_api

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = Settings(environment="development", database_url=sqlite_url, api_port=port)
    ensure_demo_merchant(cli_ledger, settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings=settings, ledger=cli_ledger), port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        ok, outcome = await demo_merchant_api(settings)
        wrong = settings.model_copy(update={"demo_api_key": SecretStr("bf_0123456789ab_" + "x" * 30)})
        refused, _ = await demo_merchant_api(wrong)
    finally:
        server.should_exit = True
        await task
    assert ok, outcome
    assert "200 demo" in outcome
    assert not refused
