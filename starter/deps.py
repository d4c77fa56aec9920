"""FastAPI dependencies every router uses: settings, ledger, Temporal client, the calling merchant.

    @router.post("/v1/payments", dependencies=[require_scope("payments:write")])
    async def create(body: PaymentIn, merchant: MerchantDep, ledger: LedgerDep,
                     client: TemporalDep, key: IdempotencyKeyDep) -> Envelope[PaymentOut]:
        wid = await idempotent_request_async(ledger, merchant.merchant_id, "payment", key, body)

`MerchantDep` answers 401 for a missing, malformed, unknown or revoked `X-API-Key`;
`require_scope(...)` answers 403 when the key lacks the scope. Routes must load objects filtered
by `merchant.merchant_id` and answer 404 (never 403) for another merchant's object.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select
from temporalio.client import Client

from billflow.config import Settings
from billflow.crypto import SecretBox
from billflow.idempotency import workflow_id
from billflow.ledger import IdempotentRequest, utcnow
from billflow.ledger.db import Ledger, upsert
from billflow.merchants import AuthedMerchant, authenticate
from billflow.security import ALL_SCOPES
from starter.client import connect
from starter.envelope import ApiError
from starter.signal_coalescer import SignalCoalescer
from starter.webhook_inbox import WebhookInbox

API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class AppState:
    """What the app factory puts on `app.state.billflow`; the ledger and client are made lazily."""

    def __init__(self, settings: Settings, ledger: Ledger | None, temporal_client: Client | None) -> None:
        self.settings = settings
        self.box = SecretBox(settings.encryption_key.get_secret_value())
        self._ledger = ledger
        self.owns_ledger = ledger is None
        self._client = temporal_client
        self._client_lock = asyncio.Lock()
        # merchant id -> (expires at, decrypted Stripe webhook secret): saves a query and a decrypt per
        # webhook delivery; short-lived, and dropped when the merchant saves new credentials.
        self.webhook_secrets: dict[str, tuple[float, str | None]] = {}
        self._webhook_inbox: WebhookInbox | None = None
        self.stripe_signals = SignalCoalescer(self.temporal)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.from_url(self.settings.sqlalchemy_url)
        return self._ledger

    @property
    def webhook_inbox(self) -> WebhookInbox:
        if self._webhook_inbox is None:
            self._webhook_inbox = WebhookInbox(self.ledger)
        return self._webhook_inbox

    async def temporal(self) -> Client:
        """The Temporal client, connected on first use and shared afterwards."""
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    try:
                        self._client = await connect(self.settings)
                    except Exception as exc:  # noqa: BLE001 - any connect failure is a 503 to the caller
                        raise ApiError(
                            503,
                            "temporal_unavailable",
                            f"cannot reach Temporal at {self.settings.temporal_address}: {exc}",
                        ) from exc
        return self._client

    def close(self) -> None:
        if self.owns_ledger and self._ledger is not None:
            self._ledger.dispose()


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.billflow
    return state


# Trivial dependencies are `async def` on purpose: FastAPI runs sync ones in the thread pool.
async def app_state(request: Request) -> AppState:
    return state_of(request)


async def _settings(request: Request) -> Settings:
    return state_of(request).settings


async def _ledger(request: Request) -> Ledger:
    return state_of(request).ledger


async def _box(request: Request) -> SecretBox:
    return state_of(request).box


async def _temporal(request: Request) -> Client:
    return await state_of(request).temporal()


StateDep = Annotated[AppState, Depends(app_state)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LedgerDep = Annotated[Ledger, Depends(_ledger)]
SecretBoxDep = Annotated[SecretBox, Depends(_box)]
TemporalDep = Annotated[Client, Depends(_temporal)]


def _authed_merchant(
    ledger: LedgerDep,
    x_api_key: Annotated[
        str | None, Header(alias=API_KEY_HEADER, description="Your billflow API key.")
    ] = None,
) -> AuthedMerchant:
    if not x_api_key:
        raise ApiError(
            401, "unauthorized", f"send your API key in the {API_KEY_HEADER} header", API_KEY_HEADER
        )
    merchant = authenticate(ledger, x_api_key)
    if merchant is None:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked", API_KEY_HEADER)
    return merchant


MerchantDep = Annotated[AuthedMerchant, Depends(_authed_merchant)]


def require_scope(scope: str) -> Any:
    """A dependency (use in `dependencies=[...]` or `Annotated[AuthedMerchant, require_scope(...)]`)."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def _check(merchant: MerchantDep) -> AuthedMerchant:
        if scope not in merchant.scopes:
            raise ApiError(403, "forbidden", f"this API key lacks the {scope} scope")
        return merchant

    return Depends(_check)


def _admin(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(description="Bearer <BILLFLOW_ADMIN_TOKEN>")] = None,
) -> None:
    configured = settings.admin_token.get_secret_value() if settings.admin_token else None
    if configured is None:
        raise ApiError(403, "admin_disabled", "the admin API is off: set BILLFLOW_ADMIN_TOKEN to enable it")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), configured.encode()):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <admin token>", "Authorization")


AdminDep = Annotated[None, Depends(_admin)]


# --- Idempotency-Key ------------------------------------------------------------------------------


def _idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Unique per business request (e.g. your order id); retries reuse it.",
        ),
    ] = None,
) -> str:
    if idempotency_key is None or not idempotency_key.strip():
        raise ApiError(
            400, "missing_header", f"the {IDEMPOTENCY_HEADER} header is required", IDEMPOTENCY_HEADER
        )
    key = idempotency_key.strip()
    if len(key) > 200 or not key.isprintable() or "/" in key:
        raise ApiError(
            400,
            "invalid_header",
            f"the {IDEMPOTENCY_HEADER} header must be 1-200 printable characters without '/'",
            IDEMPOTENCY_HEADER,
        )
    return key


IdempotencyKeyDep = Annotated[str, Depends(_idempotency_key)]


def body_hash(body: BaseModel | dict[str, Any]) -> str:
    """A stable hash of a request body (key order and whitespace do not matter)."""
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def idempotent_request(
    ledger: Ledger, merchant_id: str, scope: str, key: str, body: BaseModel | dict[str, Any]
) -> str:
    """The workflow id for this request: same key + same body -> same id; another body -> 409.

    `scope` is the flow name (e.g. "payment"); keys are per merchant and scope.
    """
    digest = body_hash(body)
    wid = workflow_id(scope, merchant_id, key)
    with ledger.session() as session:
        upsert(
            session,
            IdempotentRequest,
            {
                "merchant_id": merchant_id,
                "scope": scope,
                "idempotency_key": key,
                "request_hash": digest,
                "workflow_id": wid,
                "response": None,
                "created_at": utcnow(),
            },
            ["merchant_id", "scope", "idempotency_key"],
            update=[],
        )
        row = session.scalar(
            select(IdempotentRequest).where(
                IdempotentRequest.merchant_id == merchant_id,
                IdempotentRequest.scope == scope,
                IdempotentRequest.idempotency_key == key,
            )
        )
    assert row is not None
    if row.request_hash != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"this {IDEMPOTENCY_HEADER} was already used with a different request body; "
            "use a new key for a new request",
            IDEMPOTENCY_HEADER,
        )
    return row.workflow_id


async def idempotent_request_async(
    ledger: Ledger, merchant_id: str, scope: str, key: str, body: BaseModel | dict[str, Any]
) -> str:
    """`idempotent_request` off the event loop, for async routes."""
    return await run_in_threadpool(idempotent_request, ledger, merchant_id, scope, key, body)
