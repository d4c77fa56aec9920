"""The ASGI application: auth, faults, idempotency, routing, and the ``/_emulator`` controls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl

import httpx
import uvicorn
from pydantic import ValidationError

from stripe_emulator import idempotency, routes, threeds
from stripe_emulator import resources as _resources  # noqa: F401  (registers routes)
from stripe_emulator.context import Ctx
from stripe_emulator.errors import (
    StripeError,
    api_error,
    authentication,
    invalid_request,
    rate_limited,
    unknown_parameter,
)
from stripe_emulator.faults import EndpointFault, FaultConfig, FaultInjector
from stripe_emulator.forms import parse_form, parse_query
from stripe_emulator.stats import RequestStats, route_of
from stripe_emulator.store import API_VERSION, Store
from stripe_emulator.webhooks import MAX_ATTEMPTS, RETRY_BASE_SECONDS, WebhookDispatcher

log = logging.getLogger("stripe_emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_VERSION = (b"stripe-version", API_VERSION.encode())


class EmulatorApp:
    """The emulator as an ASGI callable. Create it with :func:`create_app`."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        state_file: str | os.PathLike[str] | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        webhook_retry_base_seconds: float = RETRY_BASE_SECONDS,
        webhook_max_attempts: int = MAX_ATTEMPTS,
        save_interval_seconds: float = 30.0,
    ) -> None:
        self.store = Store(seed)
        self.faults = FaultInjector()
        self.stats = RequestStats()
        self.webhooks = WebhookDispatcher(
            self.store,
            self.faults,
            retry_base_seconds=webhook_retry_base_seconds,
            max_attempts=webhook_max_attempts,
            transport=webhook_transport,
        )
        self.store.event_sink = self.webhooks.on_event
        self.state_file = Path(state_file) if state_file else None
        self.save_interval_seconds = save_interval_seconds
        self._saver: asyncio.Task[None] | None = None
        self._requests = 0
        if self.state_file is not None and self.state_file.exists():
            self.store.load(json.loads(self.state_file.read_text()))

    # -- persistence -------------------------------------------------------------------
    def save_state(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(self.store.dump()))
        tmp.replace(self.state_file)

    async def _periodic_save(self) -> None:
        while True:
            await asyncio.sleep(self.save_interval_seconds)
            try:
                self.save_state()
            except OSError:
                log.exception("saving emulator state failed")

    async def startup(self) -> None:
        if self.state_file is not None and self._saver is None:
            self._saver = asyncio.get_running_loop().create_task(self._periodic_save())

    async def shutdown(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            self._saver = None
        self.save_state()
        await self.webhooks.aclose()

    # -- ASGI --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path: str = scope["path"]
        if path.startswith("/v1/"):
            key = _bearer(scope)
            route = route_of(scope["method"], path)

            async def counted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.stats.record(key, int(message["status"]), route)
                await send(message)

            await self._api(scope, body, counted)
        elif path.startswith("/_emulator"):
            await self._control(scope, body, send)
        else:
            err = invalid_request(f"Unrecognized request URL ({scope['method']}: {path}).", status=404)
            await _respond(send, 404, json.dumps(err.body()).encode(), [_JSON])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def base_url(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"host":
                return f"{scope.get('scheme', 'http')}://{value.decode()}"
        server = scope.get("server") or ("127.0.0.1", 80)
        return f"http://{server[0]}:{server[1]}"

    async def _api(self, scope: Scope, body: bytes, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request_id = self.store.request_ids.new("req", 14)
        idem_key = headers.get("idempotency-key") or None
        out_headers: list[tuple[bytes, bytes]] = [_JSON, _VERSION, (b"request-id", request_id.encode())]
        if idem_key is not None:
            out_headers.append((b"idempotency-key", idem_key.encode()))
        claimed: tuple[Any, str] | None = None
        try:
            api_key = _api_key(headers)
            acct = self.store.account(api_key)
            fault: EndpointFault | None = None
            if self.faults.active:
                if not self.faults.allow(api_key):
                    raise rate_limited()
                fault = self.faults.endpoint(method, path)
                if fault is not None:
                    retry_hdr = (
                        {}
                        if fault.should_retry is None
                        else {"stripe-should-retry": "true" if fault.should_retry else "false"}
                    )
                    if self.faults.roll(fault.rate_limit_429_rate, "rate_limit_429"):
                        err = rate_limited()
                        err.headers.update(retry_hdr)
                        raise err
                    if self.faults.roll(fault.error_500_rate, "error_500"):
                        err = api_error("An unknown error occurred (injected by the emulator).")
                        err.headers.update(retry_hdr)
                        raise err
            if method == "POST":
                params = parse_form(body)
            else:
                params = parse_query(scope.get("query_string", b""))
            found = routes.match(method, path)
            if found is None:
                raise invalid_request(
                    f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                    "or we can help at https://support.stripe.com/.",
                    status=404,
                    stored=False,
                )
            rt, path_vars = found
            if rt.allowed is not None:
                for name in params:
                    if name not in rt.allowed:
                        raise unknown_parameter(name)
            ctx = Ctx(
                store=self.store,
                account=acct,
                base_url=self.base_url(scope),
                request_id=request_id,
                idempotency_key=idem_key,
            )
            if idem_key is not None and method == "POST":
                replay = idempotency.begin(
                    acct, idem_key, method, path, idempotency.digest(params), self.store.clock.now()
                )
                if replay is not None:
                    out_headers.append((b"idempotent-replayed", b"true"))
                    await _respond(send, replay.status, replay.body, out_headers)
                    return
                claimed = (acct, idem_key)
            if fault is not None and fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            try:
                status, payload = 200, routes.call(rt, ctx, params, path_vars)
            except StripeError as exc:
                if not exc.stored:
                    raise
                status, payload = exc.status, exc.body()
                out_headers.extend((k.encode(), v.encode()) for k, v in exc.headers.items())
            encoded = json.dumps(payload).encode()
            if claimed is not None:
                idempotency.finish(acct, idem_key or "", status, encoded)
                claimed = None
            self._after_write()
            if fault is not None and self.faults.roll(fault.drop_after_commit_rate, "drop_after_commit"):
                # The write is stored (and replayable); the client sees a broken response.
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [*out_headers, (b"content-length", str(len(encoded) + 64).encode())],
                    }
                )
                await send(
                    {"type": "http.response.body", "body": encoded[: len(encoded) // 2], "more_body": True}
                )
                return
            await _respond(send, status, encoded, out_headers)
        except StripeError as exc:
            if claimed is not None:
                idempotency.abandon(*claimed)
            out_headers.extend((k.encode(), v.encode()) for k, v in exc.headers.items())
            await _respond(send, exc.status, json.dumps(exc.body()).encode(), out_headers)
        except Exception:  # noqa: BLE001 - any crash becomes a Stripe-shaped 500
            log.error("emulator handler crashed:\n%s", traceback.format_exc())
            if claimed is not None:
                idempotency.abandon(*claimed)
            err = api_error()
            await _respond(send, 500, json.dumps(err.body()).encode(), out_headers)

    def _after_write(self) -> None:
        self._requests += 1
        if self._requests % 5000 == 0:
            now = self.store.clock.now()
            for acct in self.store.accounts.values():
                idempotency.prune(acct, now)

    # -- /_emulator controls -----------------------------------------------------------
    async def _control(self, scope: Scope, body: bytes, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        try:
            result = await self._control_route(method, path, headers, query, body, scope)
        except StripeError as exc:
            await _respond(send, exc.status, json.dumps(exc.body()).encode(), [_JSON])
            return
        except ValidationError as exc:
            err = invalid_request(f"Invalid fault configuration: {exc}")
            await _respond(send, 400, json.dumps(err.body()).encode(), [_JSON])
            return
        if isinstance(result, str):
            await _respond(send, 200, result.encode(), [(b"content-type", b"text/html; charset=utf-8")])
        else:
            await _respond(send, 200, json.dumps(result).encode(), [_JSON])

    async def _control_route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        query: dict[str, str],
        body: bytes,
        scope: Scope,
    ) -> dict[str, Any] | str:
        parts = path.split("/")[2:]
        head = parts[0] if parts else ""
        if head == "health":
            return {"status": "ok", "api_version": API_VERSION, "now": self.store.clock.now()}
        if head == "stats" and method == "DELETE":
            self.stats.forget(_control_key(headers, query))
            return {"deleted": True}
        if head == "stats":
            return self.stats.of(_control_key(headers, query))
        if head == "reset" and method == "POST":
            self.stats.clear()
            self.store.reset()
            self.faults.clear()
            self.faults.injected.clear()
            self.webhooks.deliveries.clear()
            return {"reset": True}
        if head == "faults" and len(parts) > 1 and parts[1] == "injected":
            return dict(sorted(self.faults.injected.items()))
        if head == "faults":
            if method == "POST":
                self.faults.configure(FaultConfig.model_validate_json(body or b"{}"))
            elif method == "DELETE":
                self.faults.clear()
            return self.faults.config.model_dump()
        if head == "audit":
            acct = self.store.accounts.get(_control_key(headers, query))
            entries = [a.to_dict() for a in acct.audit] if acct is not None else []
            return {"object": "list", "data": entries, "account": acct.id if acct else None}
        if head == "clock":
            if len(parts) > 1 and parts[1] == "advance" and method == "POST":
                seconds = float(json.loads(body or b"{}").get("seconds", 0))
                self.store.clock.advance(seconds)
                from stripe_emulator.billing import run_due_for_all

                run_due_for_all(self.store, self.base_url(scope))
            return {"now": self.store.clock.now(), "offset": self.store.clock.offset}
        if head == "webhooks" and len(parts) > 1 and parts[1] == "deliveries":
            if method == "POST" and len(parts) > 2 and parts[2] == "drain":
                await self.webhooks.drain()
            return {"object": "list", "data": list(self.webhooks.deliveries)}
        if head == "state" and method == "POST":
            self.save_state()
            return {"saved": self.state_file is not None}
        if head == "3ds" and len(parts) >= 2:
            intent_id = parts[1]
            if len(parts) == 2 and method == "GET":
                return threeds.page(self.store, intent_id)
            if len(parts) == 3 and method == "POST" and parts[2] in ("complete", "fail"):
                obj = threeds.resolve(self.store, intent_id, self.base_url(scope), parts[2])
                if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                    return (
                        "<!doctype html><html><body><p>Authentication "
                        f"{'completed' if parts[2] == 'complete' else 'failed'}; "
                        f"status is now <b>{obj['status']}</b>.</p></body></html>"
                    )
                return obj
        raise invalid_request(f"Unknown emulator control ({method} {path}).", status=404)


def _bearer(scope: Scope) -> str:
    """The request's key as sent (for counting; authentication happens in `_api_key`)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode(errors="replace")).removeprefix("Bearer ").strip()
    return ""


def _api_key(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    key = ""
    if auth.startswith("Bearer "):
        key = auth[7:].strip()
    elif auth.startswith("Basic "):
        try:
            key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise authentication(
            "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at "
            "https://support.stripe.com/."
        )
    if not key.startswith(("sk_test_", "rk_test_")) or len(key) < 12:
        raise authentication(f"Invalid API Key provided: {key[:8]}{'*' * 8}{key[-4:]}")
    return key


def _control_key(headers: dict[str, str], query: dict[str, str]) -> str:
    if "api_key" in query:
        return query["api_key"]
    return _api_key(headers)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    *,
    seed: int | None = None,
    state_file: str | os.PathLike[str] | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    webhook_retry_base_seconds: float = RETRY_BASE_SECONDS,
    webhook_max_attempts: int = MAX_ATTEMPTS,
    save_interval_seconds: float = 30.0,
) -> EmulatorApp:
    """Build the emulator ASGI app."""
    return EmulatorApp(
        seed=seed,
        state_file=state_file,
        webhook_transport=webhook_transport,
        webhook_retry_base_seconds=webhook_retry_base_seconds,
        webhook_max_attempts=webhook_max_attempts,
        save_interval_seconds=save_interval_seconds,
    )


class EmulatorServer:
    """Runs an :class:`EmulatorApp` under uvicorn in a background thread on a free port.

    >>> with EmulatorServer() as server:
    ...     client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.base_url})
    """

    def __init__(self, app: EmulatorApp | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app or create_app()
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_in_thread(port: int = 0, **app_options: Any) -> Iterator[str]:
    """Start an emulator on ``port`` (0 = any free port) and yield its base URL."""
    server = EmulatorServer(create_app(**app_options), port=port)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
