"""The calling merchant: its profile and settings, API keys and notification webhook URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from billflow.merchants import (
    ApiKeyView,
    CreatedApiKey,
    MerchantError,
    MerchantSettingsPatch,
    MerchantView,
    create_api_key,
    get_merchant,
    list_api_keys,
    revoke_api_key,
    rotate_webhook_secret,
    set_webhook_url,
    update_settings,
)
from billflow.security import Scope
from starter.deps import LedgerDep, MerchantDep, SecretBoxDep, SettingsDep, require_scope
from starter.envelope import ApiError, Envelope, ok

router = APIRouter(prefix="/v1/merchant", tags=["merchant"])

READ = [require_scope("merchant:read")]
WRITE = [require_scope("merchant:write")]


class WebhookIn(BaseModel):
    """Where billflow POSTs notifications for this merchant."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(examples=["https://shop.example.com/billflow/webhook"])


class WebhookOut(BaseModel):
    """The notification endpoint and the secret to verify `Billflow-Signature` with."""

    url: str
    signing_secret: str


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=200)
    scopes: list[Scope] | None = Field(default=None, description="default: every scope")


@router.get("", dependencies=READ)
def read_merchant(merchant: MerchantDep, ledger: LedgerDep) -> Envelope[MerchantView]:
    """The calling merchant (no secrets)."""
    view = get_merchant(ledger, merchant.merchant_id)
    if view is None:
        raise ApiError(404, "not_found", "merchant not found")
    return ok(view)


@router.patch("", dependencies=WRITE)
def patch_merchant(
    body: MerchantSettingsPatch, merchant: MerchantDep, ledger: LedgerDep
) -> Envelope[MerchantView]:
    """Change the name or the approval thresholds (minor units; null clears)."""
    try:
        return ok(update_settings(ledger, merchant.merchant_id, body))
    except MerchantError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@router.put("/webhook", dependencies=WRITE)
def put_webhook(
    body: WebhookIn, merchant: MerchantDep, ledger: LedgerDep, box: SecretBoxDep, settings: SettingsDep
) -> Envelope[WebhookOut]:
    """Set the notification URL; returns the signing secret (the same one until rotated)."""
    url = str(body.url)
    if settings.environment == "production" and body.url.scheme != "https":
        raise ApiError(422, "invalid_request", "the webhook URL must use https", "url")
    return ok(WebhookOut(url=url, signing_secret=set_webhook_url(ledger, box, merchant.merchant_id, url)))


@router.post("/webhook/rotate-secret", dependencies=WRITE)
def rotate_secret(merchant: MerchantDep, ledger: LedgerDep, box: SecretBoxDep) -> Envelope[WebhookOut]:
    """Replace the signing secret; later notifications are signed with the new one."""
    view = get_merchant(ledger, merchant.merchant_id)
    if view is None or view.webhook_url is None:
        raise ApiError(409, "no_webhook", "set a webhook URL first (PUT /v1/merchant/webhook)")
    secret = rotate_webhook_secret(ledger, box, merchant.merchant_id)
    return ok(WebhookOut(url=view.webhook_url, signing_secret=secret))


@router.get("/api-keys", dependencies=READ)
def get_keys(merchant: MerchantDep, ledger: LedgerDep) -> Envelope[list[ApiKeyView]]:
    """The merchant's API keys (prefixes and scopes, never the keys)."""
    return ok(list_api_keys(ledger, merchant.merchant_id))


@router.post("/api-keys", dependencies=WRITE, status_code=201)
def post_key(body: ApiKeyIn, merchant: MerchantDep, ledger: LedgerDep) -> Envelope[CreatedApiKey]:
    """Create a key; the response shows it once."""
    scopes = body.scopes
    return ok(create_api_key(ledger, merchant.merchant_id, body.name, scopes))


@router.delete("/api-keys/{key_id}", dependencies=WRITE)
def delete_key(
    key_id: Annotated[str, Path(max_length=40)], merchant: MerchantDep, ledger: LedgerDep
) -> Envelope[ApiKeyView]:
    """Revoke a key (idempotent); requests with it get 401 from now on."""
    view = revoke_api_key(ledger, merchant.merchant_id, key_id)
    if view is None:
        raise ApiError(404, "not_found", f"no API key {key_id}")
    return ok(view)
