"""Operator endpoints guarded by BILLFLOW_ADMIN_TOKEN: create merchants and manage their keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from billflow.merchants import (
    ApiKeyView,
    CreatedApiKey,
    MerchantError,
    MerchantView,
    create_api_key,
    create_merchant,
    list_api_keys,
    list_merchants,
    revoke_api_key,
)
from billflow.security import Scope
from starter.deps import AdminDep, LedgerDep
from starter.envelope import ApiError, Envelope, ok

router = APIRouter(prefix="/v1/admin", tags=["admin"])

MerchantIdPath = Annotated[str, Path(max_length=40)]


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] | None = Field(default=None, description="scopes of the first key (default: all)")


class AdminKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=200)
    scopes: list[Scope] | None = None


class MerchantCreated(BaseModel):
    """The new merchant and its first API key (shown once)."""

    merchant: MerchantView
    api_key: CreatedApiKey


@router.post("/merchants", status_code=201)
def post_merchant(body: MerchantIn, _: AdminDep, ledger: LedgerDep) -> Envelope[MerchantCreated]:
    """Create a merchant and its first API key."""
    scopes = body.scopes
    merchant, key = create_merchant(ledger, body.name, scopes)
    return ok(MerchantCreated(merchant=merchant, api_key=key))


@router.get("/merchants")
def get_merchants(_: AdminDep, ledger: LedgerDep) -> Envelope[list[MerchantView]]:
    """Every merchant."""
    return ok(list_merchants(ledger))


@router.get("/merchants/{merchant_id}/api-keys")
def get_keys(merchant_id: MerchantIdPath, _: AdminDep, ledger: LedgerDep) -> Envelope[list[ApiKeyView]]:
    """A merchant's API keys."""
    return ok(list_api_keys(ledger, merchant_id))


@router.post("/merchants/{merchant_id}/api-keys", status_code=201)
def post_key(
    merchant_id: MerchantIdPath, body: AdminKeyIn, _: AdminDep, ledger: LedgerDep
) -> Envelope[CreatedApiKey]:
    """Create a key for a merchant (shown once)."""
    try:
        scopes = body.scopes
        return ok(create_api_key(ledger, merchant_id, body.name, scopes))
    except MerchantError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@router.delete("/merchants/{merchant_id}/api-keys/{key_id}")
def delete_key(
    merchant_id: MerchantIdPath, key_id: Annotated[str, Path(max_length=40)], _: AdminDep, ledger: LedgerDep
) -> Envelope[ApiKeyView]:
    """Revoke a merchant's key."""
    view = revoke_api_key(ledger, merchant_id, key_id)
    if view is None:
        raise ApiError(404, "not_found", f"no API key {key_id} for merchant {merchant_id}")
    return ok(view)
