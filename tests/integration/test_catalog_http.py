"""Every catalogue and connector operation over HTTP (emulator, dev server, PostgreSQL), each once with bad input."""

from __future__ import annotations

import pytest

from tests.integration.test_quotes_stack import Stack, emulator_url, stack

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]
__all__ = ["emulator_url", "stack"]


def paid_intent(
    s: Stack, amount: int = 2_000, capture_method: str = "automatic", confirm: bool = True
) -> str:
    """A payment made by the merchant's backend directly (what the payments flow would do)."""
    intent = s.stripe.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": capture_method,
            "confirm": confirm,
        }
    )
    return intent.id


async def test_account_is_the_connection_check(stack: Stack) -> None:
    account = await stack.ok("GET", "/v1/catalog/account")
    assert account["object"] == "account" and account["id"].startswith("acct_")
    no_key = await stack.http.get(
        "/v1/catalog/account", headers={"X-API-Key": "bf_000000000000_nope-nope-nope-nope-nope"}
    )
    assert no_key.status_code == 401


async def test_customers(stack: Stack) -> None:
    s = stack
    created = await s.ok("POST", "/v1/catalog/customers", {"email": "ada@example.com", "name": "Ada"})
    cus = created["object_id"]
    assert created["object"]["metadata"]["workflow_id"].startswith(f"stripe_write/{s.merchant_id}/")
    assert (await s.ok("GET", f"/v1/catalog/customers/{cus}"))["email"] == "ada@example.com"
    listed = await s.ok("GET", "/v1/catalog/customers", email="ada@example.com", limit=5)
    assert cus in [c["id"] for c in listed["data"]]
    updated = await s.ok("POST", f"/v1/catalog/customers/{cus}", {"name": "Ada Lovelace"})
    assert updated["object"]["name"] == "Ada Lovelace"
    deleted = await s.ok("DELETE", f"/v1/catalog/customers/{cus}")
    assert deleted["object"]["deleted"] is True

    assert (await s.fails(404, "GET", "/v1/catalog/customers/cus_unknown"))["code"] == "not_found"
    assert (await s.fails(422, "POST", "/v1/catalog/customers", {"email": 42}))["field"] == "email"
    await s.fails(422, "POST", "/v1/catalog/customers/cus_x", {})  # nothing to change
    await s.fails(404, "DELETE", "/v1/catalog/customers/cus_unknown")
    await s.fails(422, "GET", "/v1/catalog/customers", limit="many")


async def test_idempotency_key_dedups_and_refuses_other_bodies(stack: Stack) -> None:
    s = stack
    first = await s.call("POST", "/v1/catalog/products", {"name": "Gold plan"}, key="gold-1")
    again = await s.call("POST", "/v1/catalog/products", {"name": "Gold plan"}, key="gold-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["object_id"] == again.json()["data"]["object_id"]
    other = await s.call("POST", "/v1/catalog/products", {"name": "Silver plan"}, key="gold-1")
    assert other.status_code == 409


async def test_products_and_prices(stack: Stack) -> None:
    s = stack
    prod = (await s.ok("POST", "/v1/catalog/products", {"name": "Gold plan", "description": "all of it"}))[
        "object_id"
    ]
    assert (await s.ok("GET", f"/v1/catalog/products/{prod}"))["name"] == "Gold plan"
    assert prod in [p["id"] for p in (await s.ok("GET", "/v1/catalog/products", limit=100))["data"]]

    one_time = await s.ok(
        "POST", "/v1/catalog/prices", {"product": prod, "currency": "usd", "unit_amount": "19.99"}
    )
    assert one_time["object"]["unit_amount"] == 1999 and one_time["object"]["type"] == "one_time"
    monthly = await s.ok(
        "POST",
        "/v1/catalog/prices",
        {"product": prod, "currency": "jpy", "unit_amount": "500", "recurring": {"interval": "month"}},
    )
    assert monthly["object"]["unit_amount"] == 500 and monthly["object"]["recurring"]["interval"] == "month"
    assert (await s.ok("GET", f"/v1/catalog/prices/{one_time['object_id']}"))["currency"] == "usd"
    page = await s.ok("GET", "/v1/catalog/prices", product=prod, limit=1)
    assert len(page["data"]) == 1 and page["has_more"] is True
    rest = await s.ok(
        "GET", "/v1/catalog/prices", product=prod, limit=1, starting_after=page["data"][0]["id"]
    )
    assert rest["data"][0]["id"] != page["data"][0]["id"]

    disposable = (await s.ok("POST", "/v1/catalog/products", {"name": "Disposable"}))["object_id"]
    assert (await s.ok("DELETE", f"/v1/catalog/products/{disposable}"))["object"]["deleted"] is True

    assert (await s.fails(422, "POST", "/v1/catalog/products", {"description": "no name"}))["field"] == "name"
    await s.fails(404, "GET", "/v1/catalog/products/prod_unknown")
    await s.fails(404, "DELETE", "/v1/catalog/products/prod_unknown")
    await s.fails(
        422, "POST", "/v1/catalog/prices", {"product": prod, "currency": "usd", "unit_amount": "abc"}
    )
    assert (
        await s.fails(
            422, "POST", "/v1/catalog/prices", {"product": prod, "currency": "usd", "unit_amount": "1.001"}
        )
    )["code"] == "invalid_amount"
    unknown_product = await s.call(
        "POST", "/v1/catalog/prices", {"product": "prod_unknown", "currency": "usd", "unit_amount": "5"}
    )
    assert 400 <= unknown_product.status_code < 500
    await s.fails(404, "GET", "/v1/catalog/prices/price_unknown")


async def test_payment_links(stack: Stack) -> None:
    s = stack
    prod = (await s.ok("POST", "/v1/catalog/products", {"name": "Ebook"}))["object_id"]
    price = (
        await s.ok("POST", "/v1/catalog/prices", {"product": prod, "currency": "eur", "unit_amount": "9"})
    )["object_id"]
    link = await s.ok("POST", "/v1/catalog/payment_links", {"line_items": [{"price": price, "quantity": 1}]})
    assert link["object"]["url"]
    assert (await s.ok("GET", f"/v1/catalog/payment_links/{link['object_id']}"))["id"] == link["object_id"]
    assert link["object_id"] in [
        p["id"] for p in (await s.ok("GET", "/v1/catalog/payment_links", limit=100))["data"]
    ]

    await s.fails(422, "POST", "/v1/catalog/payment_links", {"line_items": []})
    await s.fails(404, "GET", "/v1/catalog/payment_links/plink_unknown")


async def test_charges_and_refunds_by_charge_and_by_payment(stack: Stack) -> None:
    s = stack
    pi = paid_intent(s, 5_000)
    charges = await s.ok("GET", "/v1/catalog/charges", payment_intent=pi)
    assert len(charges["data"]) == 1
    charge = charges["data"][0]["id"]
    assert (await s.ok("GET", f"/v1/catalog/charges/{charge}"))["amount"] == 5_000
    by_charge = await s.ok(
        "POST", "/v1/catalog/refunds", {"charge": charge, "amount": "10.00", "currency": "usd"}
    )
    assert by_charge["object"]["amount"] == 1_000
    by_payment = await s.ok("POST", "/v1/catalog/refunds", {"payment_intent": pi})
    assert by_payment["object"]["amount"] == 4_000, "the rest of the payment"

    await s.fails(404, "GET", "/v1/catalog/charges/ch_unknown")
    await s.fails(422, "POST", "/v1/catalog/refunds", {"charge": charge, "payment_intent": pi})
    await s.fails(422, "POST", "/v1/catalog/refunds", {"charge": charge, "amount": "1.00"})  # no currency
    over = await s.call(
        "POST", "/v1/catalog/refunds", {"charge": charge, "amount": "1.00", "currency": "usd"}
    )
    assert 400 <= over.status_code < 500, "nothing left to refund"


async def test_payment_intent_actions_and_payment_methods(stack: Stack) -> None:
    s = stack
    manual = paid_intent(s, 3_000, capture_method="manual", confirm=False)
    confirmed = await s.ok("POST", f"/v1/catalog/payment_intents/{manual}/confirm", {})
    assert confirmed["object"]["status"] == "requires_capture"
    captured = await s.ok(
        "POST", f"/v1/catalog/payment_intents/{manual}/capture", {"amount": "20.00", "currency": "usd"}
    )
    assert captured["object"]["status"] == "succeeded" and captured["object"]["amount_received"] == 2_000
    to_cancel = paid_intent(s, 1_000, capture_method="manual", confirm=False)
    canceled = await s.ok(
        "POST", f"/v1/catalog/payment_intents/{to_cancel}/cancel", {"cancellation_reason": "abandoned"}
    )
    assert canceled["object"]["status"] == "canceled"

    cus = (await s.ok("POST", "/v1/catalog/customers", {"name": "Card holder"}))["object_id"]
    attached = await s.ok("POST", "/v1/catalog/payment_methods/pm_card_mastercard/attach", {"customer": cus})
    assert attached["object"]["customer"] == cus
    detached = await s.ok("POST", f"/v1/catalog/payment_methods/{attached['object_id']}/detach")
    assert detached["object"]["customer"] is None

    await s.fails(404, "POST", "/v1/catalog/payment_intents/pi_unknown/capture", {})
    await s.fails(
        422, "POST", f"/v1/catalog/payment_intents/{to_cancel}/cancel", {"cancellation_reason": "bored"}
    )
    again = await s.call("POST", f"/v1/catalog/payment_intents/{to_cancel}/capture", {})
    assert again.status_code == 400, "a canceled intent cannot be captured"
    assert (await s.fails(422, "POST", "/v1/catalog/payment_methods/pm_card_visa/attach", {}))[
        "field"
    ] == "customer"
    await s.fails(404, "POST", "/v1/catalog/payment_methods/pm_unknown/detach")
