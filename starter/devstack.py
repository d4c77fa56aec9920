"""`billflow dev`: the Temporal dev server, the Stripe emulator, the API and the worker, together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from billflow.binaries import temporal_cli
from billflow.config import DEV_STRIPE_KEY, STATE_DIR, Settings
from billflow.search_attributes import cli_flags

ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """A problem starting the stack, phrased for the person at the terminal."""


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with code {proc.returncode} while starting (see its log)")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise StackError(f"{name} did not open {host}:{port} within {timeout:.0f}s (see its log)")


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int
    startup_timeout: float = 60.0
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class DevStack:
    """Starts the services in order, watches them, and stops them all in reverse order."""

    settings: Settings
    state_dir: Path = STATE_DIR
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    @property
    def uses_emulator(self) -> bool:
        return self.settings.stripe_api_base is None and (
            self.settings.stripe_secret_key.get_secret_value() == DEV_STRIPE_KEY
        )

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.setdefault("BILLFLOW_PUBLIC_URL", f"http://{s.api_host}:{s.api_port}")
        env["BILLFLOW_TEMPORAL_ADDRESS"] = s.temporal_address
        if self.uses_emulator:
            env["BILLFLOW_STRIPE_API_BASE"] = f"http://127.0.0.1:{s.emulator_port}"
        env.update(self.extra_env)
        return env

    def addresses(self) -> list[tuple[str, str]]:
        """Where each part of the stack answers, as `billflow dev` prints it."""
        s = self.settings
        api = f"http://{s.api_host}:{s.api_port}"
        found = [("Temporal UI", f"http://127.0.0.1:{s.temporal_ui_port}"), ("billflow API", f"{api}/docs")]
        if self.uses_emulator:
            found.append(("Stripe emulator", f"http://127.0.0.1:{s.emulator_port}"))
        found.append(("API metrics", f"{api}/metrics"))
        if s.metrics_port:
            found.append(("worker metrics", f"http://127.0.0.1:{s.metrics_port}/metrics (Temporal SDK)"))
            found.append(("", f"http://127.0.0.1:{s.metrics_port + 1}/metrics (billflow's own)"))
        return found

    def plan(self) -> list[Service]:
        s = self.settings
        host, _, port = s.temporal_address.rpartition(":")
        temporal = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            host or "127.0.0.1",
            "--port",
            port,
            "--ui-port",
            str(s.temporal_ui_port),
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--namespace",
            s.temporal_namespace,
            "--log-level",
            "warn",
            *cli_flags(),
        ]
        py = sys.executable
        plan = [Service("temporal", temporal, int(port))]
        if self.uses_emulator:
            plan.append(
                Service(
                    "emulator",
                    [
                        py,
                        "-m",
                        "stripe_emulator",
                        "--port",
                        str(s.emulator_port),
                        "--state-file",
                        str(self.state_dir / "emulator.json"),
                    ],
                    s.emulator_port,
                )
            )
        plan.append(
            Service(
                "api",
                [
                    py,
                    "-m",
                    "uvicorn",
                    "starter.api:app",
                    "--host",
                    s.api_host,
                    "--port",
                    str(s.api_port),
                    "--log-level",
                    "warning",
                ],
                s.api_port,
            )
        )
        plan.append(Service("worker", [py, str(ROOT / "worker.py")], 0))
        return plan

    def check_ports(self, plan: list[Service]) -> None:
        busy = [
            f"{svc.name} port {svc.port}" for svc in plan if svc.port and not port_free("127.0.0.1", svc.port)
        ]
        if not port_free("127.0.0.1", self.settings.temporal_ui_port):
            busy.append(f"Temporal UI port {self.settings.temporal_ui_port}")
        if busy:
            raise StackError(
                "ports already in use: "
                + ", ".join(busy)
                + " (is another billflow dev running? stop it, or set BILLFLOW_*_PORT)"
            )

    def start(self) -> None:
        plan = self.plan()
        self.check_ports(plan)
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        for svc in plan:
            self.services.append(svc)
            self._launch(svc)

    def _launch(self, svc: Service) -> None:
        with self.log_path(svc.name).open("ab") as log:
            svc.proc = subprocess.Popen(
                svc.argv,
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if svc.port:
            try:
                wait_for_port("127.0.0.1", svc.port, svc.startup_timeout, svc.proc, svc.name)
            except StackError as exc:
                raise StackError(f"{exc} at {self.log_path(svc.name)}") from None

    def add_worker(self, name: str) -> None:
        """Start one more worker process (workers scale horizontally on one task queue)."""
        svc = Service(name, [sys.executable, str(ROOT / "worker.py")], 0)
        self.services.append(svc)
        self._launch(svc)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def restart(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill one service (SIGKILL by default, as a crash would) and start it again."""
        svc = self.service(name)
        if svc.proc is not None and svc.proc.poll() is None:
            svc.proc.send_signal(sig)
            svc.proc.wait(timeout=30)
        if svc.port:
            deadline = time.monotonic() + 30
            while not port_free("127.0.0.1", svc.port) and time.monotonic() < deadline:
                time.sleep(0.1)
        self._launch(svc)

    def failed(self) -> Service | None:
        """The first service that has exited, if any."""
        return next((s for s in self.services if s.proc is not None and s.proc.poll() is not None), None)

    def stop(self) -> None:
        for svc in reversed(self.services):
            if svc.proc is not None and svc.proc.poll() is None:
                svc.proc.send_signal(signal.SIGTERM)
        for svc in reversed(self.services):
            if svc.proc is None:
                continue
            try:
                svc.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                svc.proc.kill()
                svc.proc.wait()
        self.services.clear()
