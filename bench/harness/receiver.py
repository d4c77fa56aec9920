"""A merchant's webhook receiver: verifies billflow's signature, fails some deliveries on purpose,
and counts what it accepted, so harnesses can check every notification arrived."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator.server import EmulatorServer


class Receiver:
    def __init__(self, secret: str = "", fail_rate: float = 0.0, seed: int = 0) -> None:
        self.secret = secret
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.accepted: Counter[str] = Counter()
        # When each accepted delivery arrived (Unix seconds), to tell a resend after billflow
        # recorded the 2xx from one sent while the sender's crash hid the answer.
        self.accepted_at: defaultdict[str, list[float]] = defaultdict(list)
        self.types: dict[str, str] = {}
        self.data: dict[str, dict[str, Any]] = {}
        self.rejected_signatures = 0
        self.failed_on_purpose = 0
        self.app = Starlette(routes=[Route("/hooks", self.handle, methods=["POST"])])

    def _valid(self, body: bytes, header: str) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(self.secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))

    async def handle(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the worker was SIGKILLed mid-POST: nothing arrived
            return Response("gone", status_code=400)
        if not self._valid(body, request.headers.get("billflow-signature", "")):
            with self._lock:
                self.rejected_signatures += 1
            return Response("bad signature", status_code=400)
        with self._lock:
            if self._rng.random() < self.fail_rate:
                self.failed_on_purpose += 1
                return Response("try later", status_code=503)
            event: dict[str, Any] = json.loads(body)
            self.accepted[event["id"]] += 1
            self.accepted_at[event["id"]].append(time.time())
            self.types[event["id"]] = event.get("type", "")
            self.data[event["id"]] = event.get("data") or {}
        return Response("ok")


def serve(receiver: Receiver) -> tuple[EmulatorServer, str]:
    """Run the receiver on a free port (the emulator's thread server runs any ASGI app)."""
    server = EmulatorServer(receiver.app)  # type: ignore[arg-type]
    server.start()
    return server, f"{server.base_url}/hooks"
