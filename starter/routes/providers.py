"""Payment provider credentials: verified against Stripe before saving, encrypted, shown masked."""

from __future__ import annotations

from typing import Literal

import stripe
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from activities.stripe_client import make_client
from billflow.config import Settings
from billflow.ledger import Merchant
from billflow.merchants import StripeProviderView, get_merchant, save_stripe_credentials, stripe_provider_view
from starter.deps import LedgerDep, MerchantDep, SecretBoxDep, StateDep, require_scope
from starter.envelope import ApiError, Envelope, error_responses, ok

router = APIRouter(prefix="/v1/merchant/providers", tags=["merchant"])


class StripeCredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: str = Field(
        pattern=r"^(sk|rk)_(test|live)_[A-Za-z0-9_]{1,240}$", examples=["sk_test_..."], repr=False
    )
    webhook_secret: str | None = Field(
        default=None,
        pattern=r"^whsec_[A-Za-z0-9_]{1,240}$",
        description="omit to let billflow register its own webhook endpoint (needs BILLFLOW_PUBLIC_URL)",
        repr=False,
    )


class ProvidersIn(BaseModel):
    """`{"provider": "stripe", "stripe": {"secret_key": "sk_test_…", "webhook_secret": "whsec_…"}}`."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["stripe"]
    stripe: StripeCredentialsIn


class ProvidersOut(BaseModel):
    provider: Literal["stripe"] = "stripe"
    message: str
    account_id: str
    webhook_endpoint_id: str | None
    webhook_registered: bool = Field(description="true when this call created the Stripe webhook endpoint")
    stripe: StripeProviderView


class ProvidersView(BaseModel):
    stripe: StripeProviderView | None


def _stripe_failure(exc: stripe.StripeError, action: str) -> ApiError:
    """A clear error for the caller; Stripe's own message is not echoed (it may quote the key)."""
    if isinstance(exc, stripe.AuthenticationError):
        return ApiError(
            400, "stripe_invalid_key", f"Stripe rejected the secret key while {action}", "stripe.secret_key"
        )
    if isinstance(exc, stripe.PermissionError):
        return ApiError(
            400,
            "stripe_permission_denied",
            f"the key lacks a permission needed for {action}",
            "stripe.secret_key",
        )
    if isinstance(exc, stripe.APIConnectionError):
        return ApiError(502, "stripe_unreachable", f"cannot reach Stripe while {action}; try again")
    if isinstance(exc, stripe.RateLimitError):
        return ApiError(503, "stripe_rate_limited", f"Stripe is rate limiting while {action}; try again")
    return ApiError(
        502, "stripe_error", f"Stripe answered with an error (HTTP {exc.http_status}) while {action}"
    )


async def _register_endpoint(
    client: stripe.StripeClient,
    settings: Settings,
    merchant: Merchant | None,
    merchant_id: str,
    account_id: str,
) -> tuple[str | None, str | None, bool]:
    """(endpoint id, new whsec secret, created?) for billflow's webhook endpoint on this account."""
    if settings.public_url is None:
        return None, None, False
    url = f"{settings.public_url}/v1/webhooks/stripe/{merchant_id}"
    if (
        merchant is not None
        and merchant.stripe_account_id == account_id
        and merchant.stripe_webhook_endpoint_id
    ):
        try:
            existing = await client.v1.webhook_endpoints.retrieve_async(merchant.stripe_webhook_endpoint_id)
            if existing.url == url:
                return existing.id, None, False  # already registered: never create a twin
        except stripe.InvalidRequestError:
            pass  # deleted on Stripe's side: register again
        except stripe.StripeError as exc:
            raise _stripe_failure(exc, "checking the webhook endpoint") from None
    try:
        endpoint = await client.v1.webhook_endpoints.create_async(
            {
                "url": url,
                "enabled_events": ["*"],
                "description": "billflow",
                "metadata": {"billflow_merchant_id": merchant_id},
            }
        )
    except stripe.StripeError as exc:
        raise _stripe_failure(exc, "registering the webhook endpoint") from None
    return endpoint.id, endpoint.secret, True


@router.put("", dependencies=[require_scope("merchant:write")], responses=error_responses(502, 503))
async def put_providers(
    body: ProvidersIn, merchant: MerchantDep, ledger: LedgerDep, box: SecretBoxDep, state: StateDep
) -> Envelope[ProvidersOut]:
    """Test the Stripe key (GET /v1/account), register the webhook endpoint, then save everything encrypted."""
    creds = body.stripe
    settings = state.settings
    client = make_client(creds.secret_key, settings.stripe_api_base)
    try:
        account = await client.v1.accounts.retrieve_current_async()
    except stripe.StripeError as exc:
        raise _stripe_failure(exc, "testing the key") from None

    def _row() -> Merchant | None:
        with ledger.session() as session:
            return session.get(Merchant, merchant.merchant_id)

    row = await run_in_threadpool(_row)
    endpoint_id, endpoint_secret, created = await _register_endpoint(
        client, settings, row, merchant.merchant_id, account.id
    )
    await run_in_threadpool(
        lambda: save_stripe_credentials(
            ledger,
            box,
            merchant.merchant_id,
            secret_key=creds.secret_key,
            account_id=account.id,
            webhook_secret=creds.webhook_secret or endpoint_secret,
            webhook_endpoint_id=endpoint_id,
        )
    )
    state.webhook_secrets.pop(merchant.merchant_id, None)
    view = await run_in_threadpool(stripe_provider_view, ledger, box, merchant.merchant_id)
    return ok(
        ProvidersOut(
            message=f"connection successful: Stripe account {account.id}",
            account_id=account.id,
            webhook_endpoint_id=endpoint_id,
            webhook_registered=created,
            stripe=view,
        )
    )


@router.get("", dependencies=[require_scope("merchant:read")])
def get_providers(merchant: MerchantDep, ledger: LedgerDep, box: SecretBoxDep) -> Envelope[ProvidersView]:
    """The stored credentials, masked."""
    view = get_merchant(ledger, merchant.merchant_id)
    if view is None or not view.stripe_connected:
        return ok(ProvidersView(stripe=None))
    return ok(ProvidersView(stripe=stripe_provider_view(ledger, box, merchant.merchant_id)))
