"""Asynchronous, signed, retried webhook delivery (with optional chaos)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from stripe_emulator.faults import FaultInjector
from stripe_emulator.store import Account, Obj, Store, public

log = logging.getLogger("stripe_emulator.webhooks")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` header value: ``t=…,v1=…`` keyed by the full ``whsec_`` secret."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    dummy = hmac.new(b"v0", f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac},v0={dummy}"


def event_matches(endpoint: Obj, event_type: str) -> bool:
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event_type in enabled


# Stripe retries a failed delivery with exponential back-off for up to three days (a few hours in
# test mode). Compressed to about a minute here (0.5 s doubling, 8 attempts): long enough to ride out
# a restart of the receiving API, short enough for a test run.
RETRY_BASE_SECONDS = 0.5
MAX_ATTEMPTS = 8


class WebhookDispatcher:
    """Delivers each event to every matching endpoint of its account in a background task."""

    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        *,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.retry_base_seconds = retry_base_seconds
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds
        self.transport = transport
        self.tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[dict[str, Any]] = []
        self._client: httpx.AsyncClient | None = None

    def retry_delays(self) -> list[float]:
        """The pauses between a delivery's attempts."""
        return [self.retry_base_seconds * 2**n for n in range(self.max_attempts - 1)]

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout_seconds)
        return self._client

    def on_event(self, acct: Account, event: Obj) -> None:
        endpoints = [
            ep
            for ep in acct.of_kind("webhook_endpoint")
            if ep.get("status") == "enabled" and event_matches(ep, event["type"])
        ]
        if not endpoints:
            return
        event["pending_webhooks"] = len(endpoints)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for ep in endpoints:
            task = loop.create_task(self._deliver(acct, event, ep["id"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, acct: Account, event: Obj, endpoint_id: str) -> None:
        cfg = self.faults.config.webhooks
        if self.faults.roll(cfg.delay_rate, "webhook_delay"):
            await asyncio.sleep(cfg.delay_ms / 1000)
        if self.faults.roll(cfg.reorder_rate, "webhook_reorder"):
            await asyncio.sleep(self.faults.rng.uniform(0.01, 0.2))
        delays = self.retry_delays()
        for attempt in range(1, self.max_attempts + 1):
            endpoint = acct.objects.get(endpoint_id)
            if endpoint is None or endpoint.get("status") != "enabled":
                return
            lost = attempt == 1 and self.faults.roll(cfg.loss_rate, "webhook_loss")
            status = await self._post(event, endpoint, attempt, lost)
            if 200 <= status < 300:
                event["pending_webhooks"] = max(0, int(event.get("pending_webhooks", 1)) - 1)
                if self.faults.roll(cfg.duplicate_rate, "webhook_duplicate"):
                    await self._post(event, endpoint, attempt, False, duplicate=True)
                return
            if attempt < self.max_attempts:
                await asyncio.sleep(delays[attempt - 1])

    async def _post(
        self, event: Obj, endpoint: Obj, attempt: int, lost: bool, *, duplicate: bool = False
    ) -> int:
        record: dict[str, Any] = {
            "event": event["id"],
            "type": event["type"],
            "endpoint": endpoint["id"],
            "url": endpoint["url"],
            "attempt": attempt,
            "duplicate": duplicate,
            "lost": lost,
            "status": None,
            "at": time.time(),
        }
        self.deliveries.append(record)
        if lost:
            return 0
        payload = json.dumps(public(event), indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, endpoint["_secret"]),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            resp = await self.client().post(endpoint["url"], content=payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            record["error"] = repr(exc)
            return 0
        record["status"] = resp.status_code
        return resp.status_code

    async def drain(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self.tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
