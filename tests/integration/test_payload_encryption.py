"""With a payload key, histories hold no customer data, and the codec server reads them back."""

from __future__ import annotations

import base64
import uuid

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from billflow.codec import with_codec
from billflow.config import Settings
from starter.codec_server import create_codec_app
from worker import build_worker
from workflows.hello import HelloInput, HelloWorkflow

KEY = "test-payload-key"
EMAIL = "ada.lovelace@example.com"


async def test_history_is_encrypted_and_codec_server_decodes(
    dev_env: WorkflowEnvironment, task_queue: str, sqlite_url: str
) -> None:
    config = dev_env.client.config()
    config["data_converter"] = with_codec(config["data_converter"], KEY)
    secure = Client(**config)
    deps = Deps.build(Settings(database_url=sqlite_url))
    wf_id = f"hello/{uuid.uuid4()}"
    async with build_worker(secure, deps, task_queue=task_queue):
        result = await secure.execute_workflow(
            HelloWorkflow.run, HelloInput(name=EMAIL), id=wf_id, task_queue=task_queue
        )
    assert result.greeting == f"Hello, {EMAIL}!"

    history = await dev_env.client.get_workflow_handle(wf_id).fetch_history()
    raw = history.to_json()
    assert EMAIL not in raw
    assert "binary/encrypted" in raw or base64.b64encode(b"binary/encrypted").decode() in raw

    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in started
        ]
    }
    app = create_codec_app(KEY, ["http://127.0.0.1:8233"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        decoded = (await http.post("/decode", json=body)).json()["payloads"]
        wrong = await http.post("/decode", json={"payloads": "nope"})
    assert EMAIL in base64.b64decode(decoded[0]["data"]).decode()
    assert wrong.status_code == 422

    other_key = create_codec_app("another-key", [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other_key), base_url="http://codec"
    ) as http:
        assert (await http.post("/decode", json=body)).status_code == 400
