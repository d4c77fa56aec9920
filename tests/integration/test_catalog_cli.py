"""`billflow catalog …` against a real API (uvicorn on a free port), worker, emulator and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.registry import Deps
from billflow.config import Settings
from billflow.ledger.db import Ledger
from billflow.merchants import ensure_demo_merchant
from starter.api import create_app
from starter.cli import app as cli
from tests.integration.test_quotes_stack import emulator_url
from worker import build_worker

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]
__all__ = ["emulator_url"]


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, pg_url: str, pg_ledger: Ledger, task_queue: str, emulator_url: str
) -> AsyncIterator[tuple[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        environment="test",
        database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"),
        temporal_task_queue=task_queue,
        stripe_api_base=emulator_url,
        stripe_secret_key=SecretStr(f"sk_test_{uuid.uuid4().hex}"),
    )
    _, api_key = ensure_demo_merchant(pg_ledger, settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, pg_ledger, dev_env.client), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    deps = Deps.build(settings)
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with build_worker(dev_env.client, deps, task_queue=task_queue):
            yield f"http://127.0.0.1:{port}", api_key
    finally:
        server.should_exit = True
        await serving
        deps.ledger.dispose()


async def test_cli_creates_reads_and_reports_errors(api: tuple[str, str]) -> None:
    url, key = api
    runner = CliRunner()

    async def run(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(
            runner.invoke, cli, ["catalog", *args, "--api-url", url], env={"BILLFLOW_API_KEY": key}
        )
        return result.exit_code, result.output

    code, out = await run("create", "products", "name=Gold plan", "--key", "cli-gold")
    assert code == 0, out
    product = json.loads(out)["object_id"]
    code, again = await run("create", "products", "name=Gold plan", "--key", "cli-gold")
    assert code == 0 and json.loads(again)["object_id"] == product, "same --key, same product"
    code, out = await run(
        "create",
        "prices",
        f"product={product}",
        "currency=usd",
        "unit_amount=9.99",
        "--json",
        '{"recurring": {"interval": "month"}}',
    )
    assert code == 0, out
    assert json.loads(out)["object"]["recurring"]["interval"] == "month"
    code, out = await run("list", "prices", f"product={product}", "--limit", "5")
    assert code == 0 and len(json.loads(out)["data"]) == 1
    code, out = await run("get", "products", product)
    assert code == 0 and json.loads(out)["name"] == "Gold plan"
    code, out = await run("get", "products", "prod_unknown")
    assert code == 1 and "404 not_found" in out
    code, out = await run("create", "prices", f"product={product}", "currency=usd", "unit_amount=abc")
    assert code == 1 and "422" in out
    code, out = await run("delete", "prices", "price_x")
    assert code == 1 and "resource must be one of" in out
