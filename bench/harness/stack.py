"""An isolated local stack on free ports (its own state dir), with a merchant wired to a receiver."""

from __future__ import annotations

import secrets
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench.harness.ports import free_ports
from bench.harness.receiver import Receiver, serve
from billflow.config import Settings
from billflow.migrate import upgrade
from starter.devstack import DevStack
from stripe_emulator.server import EmulatorServer


@dataclass
class Merchant:
    id: str
    api_key: str
    stripe_key: str


@dataclass
class IsolatedStack:
    """Temporal (SQLite), emulator, API and worker as subprocesses, like `billflow dev`, on free ports."""

    database_url: str | None = None
    worker_count: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="billflow-stack-")))

    def __post_init__(self) -> None:
        temporal, ui, api, emulator = free_ports(4)
        self.admin_token = secrets.token_urlsafe(16)
        self.settings = Settings(
            temporal_address=f"127.0.0.1:{temporal}",
            temporal_ui_port=ui,
            api_port=api,
            emulator_port=emulator,
            database_url=self.database_url or f"sqlite:///{self.state_dir / 'ledger.db'}",
            metrics_port=0,
        )
        env = {
            "BILLFLOW_TEMPORAL_ADDRESS": self.settings.temporal_address,
            "BILLFLOW_TEMPORAL_UI_PORT": str(ui),
            "BILLFLOW_API_PORT": str(api),
            "BILLFLOW_EMULATOR_PORT": str(emulator),
            "BILLFLOW_DATABASE_URL": self.settings.database_url,
            "BILLFLOW_METRICS_PORT": "0",
            "BILLFLOW_ADMIN_TOKEN": self.admin_token,
            "BILLFLOW_PUBLIC_URL": self.api_url,
            **self.extra_env,
        }
        self.stack = DevStack(self.settings, state_dir=self.state_dir, extra_env=env)
        self.receiver_server: EmulatorServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.emulator_port}"

    def __enter__(self) -> IsolatedStack:
        upgrade(self.settings.sqlalchemy_url)
        self.stack.start()
        for n in range(1, self.worker_count):
            self.stack.add_worker(f"worker{n + 1}")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stack.stop()
        if self.receiver_server is not None:
            self.receiver_server.stop()

    def create_merchant(self, receiver: Receiver | None = None) -> Merchant:
        """A merchant with fresh emulator credentials (which registers the Stripe webhook endpoint)."""
        with httpx.Client(base_url=self.api_url, timeout=30) as http:
            made = http.post(
                "/v1/admin/merchants",
                json={"name": f"chaos-{uuid.uuid4().hex[:6]}"},
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
            made.raise_for_status()
            data = made.json()["data"]
            merchant = Merchant(
                id=data["merchant"]["id"],
                api_key=data["api_key"]["key"],
                stripe_key=f"sk_test_{uuid.uuid4().hex}",
            )
            auth = {"X-API-Key": merchant.api_key}
            saved = http.put(
                "/v1/merchant/providers",
                json={"provider": "stripe", "stripe": {"secret_key": merchant.stripe_key}},
                headers=auth,
            )
            saved.raise_for_status()
            if receiver is not None:
                self.receiver_server, url = serve(receiver)
                hook = http.put("/v1/merchant/webhook", json={"url": url}, headers=auth)
                hook.raise_for_status()
                receiver.secret = hook.json()["data"]["signing_secret"]
        return merchant
