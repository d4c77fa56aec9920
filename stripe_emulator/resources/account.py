"""``GET /v1/account``: the caller's own account."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.routes import route
from stripe_emulator.store import Obj, new_object


@route("GET", "/v1/account", "AccountRetrieveCurrentParams")
def retrieve_account(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """The account behind the secret key."""
    acct = new_object("account")
    acct.update(
        id=ctx.account.id,
        business_profile={
            "mcc": None,
            "name": "billflow emulator",
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        business_type="company",
        capabilities={"card_payments": "active", "transfers": "active"},
        charges_enabled=True,
        country="US",
        created=1_700_000_000,
        default_currency="usd",
        details_submitted=True,
        email="emulator@example.com",
        external_accounts={
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{ctx.account.id}/external_accounts",
        },
        payouts_enabled=True,
        settings={
            "dashboard": {"display_name": "billflow emulator", "timezone": "Etc/UTC"},
            "payments": {"statement_descriptor": "EMULATOR"},
        },
        type="standard",
    )
    return acct
