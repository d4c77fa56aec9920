"""Merchant services: merchants, API keys, settings, stored secrets. Used by the API and the CLI.

Thresholds (`payment_approval_threshold`, `refund_approval_threshold`, `quote_auto_approve_below`)
are integers in minor units of the amount they are compared with (a payment of 50000 in USD minor
units is 500.00 USD; in JPY it is 50000 yen); `null` means "no threshold".
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from billflow.config import Settings
from billflow.crypto import SecretBox, mask
from billflow.ledger import ApiKey, Merchant, utcnow
from billflow.ledger.db import Ledger, upsert
from billflow.security import (
    ALL_SCOPES,
    Scope,
    generate_key,
    key_from_plaintext,
    key_matches,
    normalise_scopes,
    parse_prefix,
)
from billflow.signing import new_secret

DEMO_MERCHANT_ID = "mer_demo"


class MerchantError(ValueError):
    """A request the merchant services refuse (unknown merchant, bad scope, production demo)."""


class AuthedMerchant(BaseModel):
    """Who is calling: the merchant behind the API key and what that key may do."""

    model_config = ConfigDict(frozen=True)

    merchant_id: str
    key_id: str
    scopes: frozenset[str]


class ApiKeyView(BaseModel):
    """An API key as listed: never the key itself."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class CreatedApiKey(ApiKeyView):
    """A key just created: `key` is shown this once and cannot be retrieved later."""

    key: str


class MerchantView(BaseModel):
    """A merchant without its secrets."""

    id: str
    name: str
    webhook_url: str | None
    stripe_connected: bool
    stripe_account_id: str | None
    payment_approval_threshold: int | None = Field(description="minor units; null = no approval")
    refund_approval_threshold: int | None = Field(description="minor units; null = no approval")
    quote_auto_approve_below: int | None = Field(description="minor units; null = always approve by hand")
    created_at: datetime


class MerchantSettingsPatch(BaseModel):
    """Fields `PATCH /v1/merchant` may change (only the ones sent are touched)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    payment_approval_threshold: int | None = Field(default=None, ge=0, le=10**15)
    refund_approval_threshold: int | None = Field(default=None, ge=0, le=10**15)
    quote_auto_approve_below: int | None = Field(default=None, ge=0, le=10**15)


class StripeProviderView(BaseModel):
    """Stored Stripe credentials, masked."""

    secret_key: str | None
    webhook_secret: str | None
    account_id: str | None
    webhook_endpoint_id: str | None


def new_merchant_id() -> str:
    return "mer_" + secrets.token_hex(8)


def _key_view(row: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def merchant_view(row: Merchant) -> MerchantView:
    return MerchantView(
        id=row.id,
        name=row.name,
        webhook_url=row.webhook_url,
        stripe_connected=row.stripe_secret_key_enc is not None,
        stripe_account_id=row.stripe_account_id,
        payment_approval_threshold=row.payment_approval_threshold_minor,
        refund_approval_threshold=row.refund_approval_threshold_minor,
        quote_auto_approve_below=row.quote_auto_approve_below_minor,
        created_at=row.created_at,
    )


def _load(ledger: Ledger, merchant_id: str) -> Merchant:
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
    if row is None:
        raise MerchantError(f"no merchant {merchant_id}")
    return row


def get_merchant(ledger: Ledger, merchant_id: str) -> MerchantView | None:
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        return merchant_view(row) if row is not None else None


def list_merchants(ledger: Ledger) -> list[MerchantView]:
    with ledger.session() as session:
        return [merchant_view(m) for m in session.scalars(select(Merchant).order_by(Merchant.created_at))]


def create_api_key(
    ledger: Ledger, merchant_id: str, name: str = "default", scopes: Sequence[str] | None = None
) -> CreatedApiKey:
    """A new key for an existing merchant (all scopes unless given)."""
    checked: list[Scope] = normalise_scopes(scopes)
    new = generate_key()
    with ledger.session() as session:
        if session.get(Merchant, merchant_id) is None:
            raise MerchantError(f"no merchant {merchant_id}")
        row = ApiKey(
            id="key_" + secrets.token_hex(8),
            merchant_id=merchant_id,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            scopes=list(checked),
            created_at=utcnow(),
            revoked_at=None,
        )
        session.add(row)
        session.flush()
        view = _key_view(row)
    return CreatedApiKey(**view.model_dump(), key=new.plaintext)


def create_merchant(
    ledger: Ledger, name: str, scopes: Sequence[str] | None = None
) -> tuple[MerchantView, CreatedApiKey]:
    """A merchant and its first API key."""
    normalise_scopes(scopes)  # refuse bad scopes before creating anything
    merchant_id = new_merchant_id()
    with ledger.session() as session:
        row = Merchant(id=merchant_id, name=name)
        session.add(row)
        session.flush()
        view = merchant_view(row)
    return view, create_api_key(ledger, merchant_id, "default", scopes)


def list_api_keys(ledger: Ledger, merchant_id: str) -> list[ApiKeyView]:
    with ledger.session() as session:
        rows = session.scalars(
            select(ApiKey).where(ApiKey.merchant_id == merchant_id).order_by(ApiKey.created_at)
        )
        return [_key_view(r) for r in rows]


def revoke_api_key(ledger: Ledger, merchant_id: str, key_id: str) -> ApiKeyView | None:
    """Revoke one of the merchant's keys (idempotent); None if the merchant has no such key."""
    with ledger.session() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.merchant_id != merchant_id:
            return None
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _key_view(row)


def authenticate(ledger: Ledger, plaintext: str) -> AuthedMerchant | None:
    """The merchant behind a presented key, or None for a malformed, unknown or revoked key."""
    prefix = parse_prefix(plaintext)
    if prefix is None:
        return None
    with ledger.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or row.revoked_at is not None or not key_matches(plaintext, row.key_hash):
            return None
        return AuthedMerchant(merchant_id=row.merchant_id, key_id=row.id, scopes=frozenset(row.scopes))


def update_settings(ledger: Ledger, merchant_id: str, patch: MerchantSettingsPatch) -> MerchantView:
    """Apply the fields present in `patch` (an explicit null clears a threshold)."""
    columns = {
        "name": "name",
        "payment_approval_threshold": "payment_approval_threshold_minor",
        "refund_approval_threshold": "refund_approval_threshold_minor",
        "quote_auto_approve_below": "quote_auto_approve_below_minor",
    }
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        if row is None:
            raise MerchantError(f"no merchant {merchant_id}")
        for field in patch.model_fields_set:
            value = getattr(patch, field)
            if field == "name" and value is None:
                continue
            setattr(row, columns[field], value)
        session.flush()
        return merchant_view(row)


def set_webhook_url(ledger: Ledger, box: SecretBox, merchant_id: str, url: str) -> str:
    """Point notifications at `url`; returns the signing secret (kept if one exists already)."""
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        if row is None:
            raise MerchantError(f"no merchant {merchant_id}")
        if row.webhook_signing_secret_enc is None:
            secret = new_secret()
            row.webhook_signing_secret_enc = box.encrypt(secret)
        else:
            secret = box.decrypt(row.webhook_signing_secret_enc)
        row.webhook_url = url
    return secret


def rotate_webhook_secret(ledger: Ledger, box: SecretBox, merchant_id: str) -> str:
    """Replace the signing secret; notifications sent from now on use the new one."""
    secret = new_secret()
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        if row is None:
            raise MerchantError(f"no merchant {merchant_id}")
        row.webhook_signing_secret_enc = box.encrypt(secret)
    return secret


def stripe_provider_view(ledger: Ledger, box: SecretBox, merchant_id: str) -> StripeProviderView:
    row = _load(ledger, merchant_id)

    def masked(enc: str | None) -> str | None:
        return mask(box.decrypt(enc)) if enc is not None else None

    return StripeProviderView(
        secret_key=masked(row.stripe_secret_key_enc),
        webhook_secret=masked(row.stripe_webhook_secret_enc),
        account_id=row.stripe_account_id,
        webhook_endpoint_id=row.stripe_webhook_endpoint_id,
    )


def save_stripe_credentials(
    ledger: Ledger,
    box: SecretBox,
    merchant_id: str,
    *,
    secret_key: str,
    account_id: str,
    webhook_secret: str | None,
    webhook_endpoint_id: str | None,
) -> None:
    """Store verified credentials encrypted; a None webhook secret keeps the stored one."""
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        if row is None:
            raise MerchantError(f"no merchant {merchant_id}")
        row.stripe_secret_key_enc = box.encrypt(secret_key)
        row.stripe_account_id = account_id
        if webhook_secret is not None:
            row.stripe_webhook_secret_enc = box.encrypt(webhook_secret)
        if webhook_endpoint_id is not None:
            row.stripe_webhook_endpoint_id = webhook_endpoint_id


def ensure_demo_merchant(ledger: Ledger, settings: Settings) -> tuple[str, str]:
    """Create (once) the merchant "demo" with the configured Stripe key and the fixed demo API key.

    Idempotent: re-running changes nothing but a changed Stripe key. Refused in production.
    """
    if settings.environment == "production":
        raise MerchantError("the demo merchant is for development only")
    box = SecretBox(settings.encryption_key.get_secret_value())
    stripe_key = settings.stripe_secret_key.get_secret_value()
    api_key = key_from_plaintext(settings.demo_api_key.get_secret_value())
    with ledger.session() as session:
        upsert(
            session,
            Merchant,
            {"id": DEMO_MERCHANT_ID, "name": "demo", "created_at": utcnow(), "updated_at": utcnow()},
            ["id"],
            update=[],
        )
        row = session.get(Merchant, DEMO_MERCHANT_ID)
        assert row is not None
        if row.stripe_secret_key_enc is None or box.decrypt(row.stripe_secret_key_enc) != stripe_key:
            row.stripe_secret_key_enc = box.encrypt(stripe_key)
        upsert(
            session,
            ApiKey,
            {
                "id": "key_demo",
                "merchant_id": DEMO_MERCHANT_ID,
                "name": "demo",
                "prefix": api_key.prefix,
                "key_hash": api_key.key_hash,
                "scopes": list(ALL_SCOPES),
                "created_at": utcnow(),
                "revoked_at": None,
            },
            ["id"],
            update=["prefix", "key_hash", "scopes"],
        )
    return DEMO_MERCHANT_ID, api_key.plaintext
