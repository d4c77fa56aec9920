"""Wire protocol: auth, headers, form syntax, errors, accounts, customers, payment methods."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .shapes import check_object

pytestmark = [
    pytest.mark.asyncio,
    # The SDK's own httpx client triggers this warning; it is not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload:DeprecationWarning"),
]


async def test_missing_and_invalid_key_are_401(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        resp = await http.get("/v1/customers")
        assert resp.status_code == 401
        assert resp.json()["error"]["type"] == "invalid_request_error"
        assert resp.headers["request-id"].startswith("req_")
    bad = stripe.StripeClient("sk_live_nope1234", base_addresses={"api": base_url})
    with pytest.raises(stripe.AuthenticationError) as exc:
        await bad.v1.customers.list_async()
    assert exc.value.http_status == 401


async def test_headers_request_id_and_idempotency_echo(base_url: str, api_key: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}", "Stripe-Version": "2026-10-28.endive"}) as http:
        resp = await http.post("/v1/customers", content=b"email=a%40b.c&metadata[k]=v&expand[]=test_clock", headers={"Idempotency-Key": "k-1", "Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 200
        assert resp.headers["idempotency-key"] == "k-1"
        assert resp.headers["request-id"].startswith("req_")
        body = resp.json()
        assert body["metadata"] == {"k": "v"} and body["email"] == "a@b.c"
        unknown = await http.get("/v1/nothing_here")
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"
        q = await http.get("/v1/customers", params={"email": "a@b.c", "expand[0]": "data.test_clock"})
        assert [c["id"] for c in q.json()["data"]] == [body["id"]]


async def test_accounts_are_isolated(client: stripe.StripeClient, base_url: str) -> None:
    cus = await client.v1.customers.create_async(params={"email": "x@example.com"})
    other = stripe.StripeClient("sk_test_someoneelse0001", base_addresses={"api": base_url})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await other.v1.customers.retrieve_async(cus.id)
    assert exc.value.code == "resource_missing" and exc.value.http_status == 404
    assert cus.id not in [c.id for c in (await other.v1.customers.list_async()).data]
    acct = await client.v1.accounts.retrieve_current_async()
    check_object(acct)
    acct2 = await other.v1.accounts.retrieve_current_async()
    assert acct.id.startswith("acct_") and acct.id != acct2.id


async def test_customer_crud_and_filters(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async(params={"email": "a@example.com", "name": "Ann", "metadata": {"uid": "1"}})
    check_object(cus)
    assert cus.id.startswith("cus_") and cus.invoice_settings.default_payment_method is None
    await client.v1.customers.create_async(params={"email": "b@example.com"})
    listed = await client.v1.customers.list_async(params={"email": "a@example.com"})
    assert [c.id for c in listed.data] == [cus.id]
    cus = await client.v1.customers.update_async(cus.id, params={"name": "Anne", "metadata": {"uid": ""}})
    assert cus.name == "Anne" and "uid" not in cus.metadata.to_dict()
    got = await client.v1.customers.retrieve_async(cus.id)
    assert got.name == "Anne"
    deleted = await client.v1.customers.delete_async(cus.id)
    assert deleted.deleted is True and deleted.id == cus.id
    stub = await client.v1.customers.retrieve_async(cus.id)
    assert stub.to_dict() == {"id": cus.id, "object": "customer", "deleted": True}


async def test_payment_methods_tokens_fingerprints_attach_detach(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    a = await client.v1.payment_methods.create_async(params={"type": "card", "card": {"token": "tok_visa"}})
    b = await client.v1.payment_methods.create_async(params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 4, "exp_year": 2031, "cvc": "123"}})
    c = await client.v1.payment_methods.create_async(params={"type": "card", "card": {"token": "tok_mastercard"}})
    check_object(a)
    assert a.card.fingerprint == b.card.fingerprint != c.card.fingerprint
    assert (a.card.brand, a.card.last4, b.card.exp_month, b.card.exp_year) == ("visa", "4242", 4, 2031)
    assert c.card.brand == "mastercard"
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.payment_methods.create_async(params={"type": "card", "card": {"number": "4242424242424241", "exp_month": 1, "exp_year": 2030}})
    assert exc.value.code == "incorrect_number"
    first = await client.v1.payment_methods.attach_async("pm_card_visa", params={"customer": cus.id})
    second = await client.v1.payment_methods.attach_async("pm_card_visa", params={"customer": cus.id})
    assert first.id != second.id and first.customer == cus.id  # pm_card_* materialises a new PM each time
    assert first.card.fingerprint == second.card.fingerprint == a.card.fingerprint
    listed = await client.v1.payment_methods.list_async(params={"customer": cus.id, "type": "card"})
    assert {p.id for p in listed.data} == {first.id, second.id}
    via_customer = await client.v1.customers.payment_methods.list_async(cus.id)
    assert {p.id for p in via_customer.data} == {first.id, second.id}
    cus = await client.v1.customers.update_async(cus.id, params={"invoice_settings": {"default_payment_method": first.id}})
    assert cus.invoice_settings.default_payment_method == first.id
    detached = await client.v1.payment_methods.detach_async(second.id)
    assert detached.customer is None
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_methods.attach_async(second.id, params={"customer": cus.id})
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async(params={"amount": 500, "currency": "usd", "payment_method": second.id, "confirm": True})
    got = await client.v1.payment_methods.retrieve_async(first.id)
    assert got.customer == cus.id
    upd = await client.v1.payment_methods.update_async(first.id, params={"metadata": {"a": "b"}})
    assert upd.metadata["a"] == "b"


async def test_setup_intents_lifecycle(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    si = await client.v1.setup_intents.create_async(params={"customer": cus.id})
    check_object(si)
    assert si.status == "requires_payment_method" and si.usage == "off_session"
    si = await client.v1.setup_intents.confirm_async(si.id, params={"payment_method": "pm_card_visa"})
    assert si.status == "succeeded"
    pm = await client.v1.payment_methods.retrieve_async(str(si.payment_method))
    assert pm.customer == cus.id
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.setup_intents.create_async(params={"customer": cus.id, "payment_method": "pm_card_chargeDeclined", "confirm": True})
    assert exc.value.code == "card_declined"
    si2 = await client.v1.setup_intents.create_async(params={"customer": cus.id, "usage": "on_session"})
    si2 = await client.v1.setup_intents.cancel_async(si2.id, params={"cancellation_reason": "abandoned"})
    assert si2.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.setup_intents.cancel_async(si.id)
    listed = await client.v1.setup_intents.list_async(params={"customer": cus.id})
    assert len(listed.data) == 3
    got = await client.v1.setup_intents.retrieve_async(si.id)
    assert got.status == "succeeded"


async def test_expand_and_unknown_expand(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(params={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True, "expand": ["latest_charge", "payment_method"]})
    assert isinstance(pi.payment_method, stripe.PaymentMethod)
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.retrieve_async(pi.id, params={"expand": ["nonsense"]})
