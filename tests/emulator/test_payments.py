"""PaymentIntents, charges, refunds and the test-card table, through the official SDK."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import customer_with_card
from .shapes import check_object

pytestmark = [
    pytest.mark.asyncio,
    # The SDK's own httpx client triggers this warning; it is not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload:DeprecationWarning"),
]


async def test_automatic_capture_succeeds_with_latest_charge(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "expand": ["latest_charge"],
        }
    )
    check_object(pi)
    assert pi.status == "succeeded" and pi.amount_received == 2000
    charge = pi.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.status == "succeeded" and charge.captured and charge.paid and charge.amount_captured == 2000
    assert pi.client_secret and pi.client_secret.startswith(f"{pi.id}_secret_")


async def test_create_without_confirm_then_confirm(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(params={"amount": 500, "currency": "USD"})
    assert pi.status == "requires_payment_method" and pi.currency == "usd"
    pi = await client.v1.payment_intents.update_async(
        pi.id, params={"payment_method": "pm_card_mastercard", "metadata": {"order": "7"}}
    )
    assert pi.status == "requires_confirmation" and pi.metadata["order"] == "7"
    pi = await client.v1.payment_intents.confirm_async(pi.id)
    check_object(pi)
    assert pi.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.confirm_async(pi.id)
    assert exc.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.cancel_async(pi.id)
    assert exc.value.code == "payment_intent_unexpected_state"
    listed = await client.v1.payment_intents.list_async()
    assert [p.id for p in listed.data] == [pi.id]


async def test_confirm_without_payment_method_is_rejected(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(params={"amount": 500, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.confirm_async(pi.id)
    assert exc.value.param == "payment_method"


async def test_manual_capture_partial_then_refund_limits(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    assert pi.status == "requires_capture" and pi.amount_capturable == 1000
    charge = await client.v1.charges.retrieve_async(str(pi.latest_charge))
    assert charge.captured is False and charge.amount_captured == 0
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.capture_async(pi.id, params={"amount_to_capture": 1500})
    pi = await client.v1.payment_intents.capture_async(pi.id, params={"amount_to_capture": 600})
    check_object(pi)
    assert pi.status == "succeeded" and pi.amount_received == 600 and pi.amount_capturable == 0
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.capture_async(pi.id)
    assert exc.value.code == "payment_intent_unexpected_state"
    r1 = await client.v1.refunds.create_async(params={"payment_intent": pi.id, "amount": 200})
    check_object(r1)
    assert r1.status == "succeeded" and r1.amount == 200 and r1.charge == pi.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.refunds.create_async(params={"payment_intent": pi.id, "amount": 401})
    assert exc.value.param == "amount"
    r2 = await client.v1.refunds.create_async(params={"charge": str(pi.latest_charge)})
    assert r2.amount == 400
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.refunds.create_async(params={"payment_intent": pi.id})
    assert exc.value.code == "charge_already_refunded"
    charge = await client.v1.charges.retrieve_async(str(pi.latest_charge), params={"expand": ["refunds"]})
    check_object(charge)
    assert charge.amount_refunded == 1000 and charge.refunded is True  # 400 released + 600 refunded
    assert len(charge.refunds.data) == 2
    refunds = await client.v1.refunds.list_async(params={"payment_intent": pi.id})
    assert {r.id for r in refunds.data} == {r1.id, r2.id}
    got = await client.v1.refunds.retrieve_async(r1.id)
    assert got.amount == 200
    charges = await client.v1.charges.list_async(params={"payment_intent": pi.id})
    assert [c.id for c in charges.data] == [charge.id]


async def test_cancel_releases_authorisation(client: stripe.StripeClient) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    pi = await client.v1.payment_intents.cancel_async(pi.id, params={"cancellation_reason": "abandoned"})
    check_object(pi)
    assert pi.status == "canceled" and pi.cancellation_reason == "abandoned" and pi.canceled_at
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async(params={"payment_intent": pi.id})


@pytest.mark.parametrize(
    ("pm", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card"),
        ("pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
        ("pm_card_visa_chargeDeclinedVelocityLimitExceeded", "card_declined", "card_velocity_exceeded"),
        ("pm_card_chargeCustomerFail", "card_declined", "generic_decline"),
    ],
)
async def test_declines_are_402_with_embedded_payment_intent(
    client: stripe.StripeClient, pm: str, code: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.payment_intents.create_async(
            params={"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
        )
    err = exc.value
    assert err.http_status == 402 and err.code == code and err.error is not None
    assert err.error.type == "card_error" and err.error.decline_code == decline_code
    assert err.request_id and err.request_id.startswith("req_")
    embedded = err.error.payment_intent
    assert embedded is not None and embedded.status == "requires_payment_method"
    check_object(embedded)
    assert embedded.last_payment_error is not None and embedded.last_payment_error.code == code
    charge = await client.v1.charges.retrieve_async(str(embedded.latest_charge))
    assert charge.status == "failed" and charge.failure_code == code
    pi = await client.v1.payment_intents.retrieve_async(embedded.id)
    assert pi.status == "requires_payment_method"


async def test_decline_cards_fail_at_attach_but_0341_attaches(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.payment_methods.attach_async("pm_card_chargeDeclined", params={"customer": cus.id})
    assert exc.value.code == "card_declined"
    cus, pm_id = await customer_with_card(client, "pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        await client.v1.payment_intents.create_async(
            params={
                "amount": 900,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": pm_id,
                "confirm": True,
                "off_session": True,
            }
        )


async def test_3ds_required_then_complete_via_emulator_hook(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            "return_url": "https://shop.example/return",
        }
    )
    check_object(pi)
    assert pi.status == "requires_action" and pi.next_action is not None
    assert pi.next_action.type == "redirect_to_url"
    url = pi.next_action.redirect_to_url.url
    assert url.endswith(f"/_emulator/3ds/{pi.id}")
    assert pi.next_action.redirect_to_url.return_url == "https://shop.example/return"
    page = await control.get(url)
    assert page.status_code == 200 and "Complete" in page.text and "Fail" in page.text
    done = await control.post(f"/_emulator/3ds/{pi.id}/complete")
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    pi = await client.v1.payment_intents.retrieve_async(pi.id)
    assert pi.status == "succeeded" and pi.next_action is None


async def test_3ds_manual_capture_and_failure(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    assert pi.status == "requires_action"
    await control.post(f"/_emulator/3ds/{pi.id}/complete")
    pi = await client.v1.payment_intents.retrieve_async(pi.id)
    assert pi.status == "requires_capture"
    pi2 = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecureRequired",
            "confirm": True,
        }
    )
    form = await control.post(f"/_emulator/3ds/{pi2.id}/fail", data={"x": "1"})
    assert "failed" in form.text
    pi2 = await client.v1.payment_intents.retrieve_async(pi2.id)
    check_object(pi2)
    assert pi2.status == "requires_payment_method"
    assert pi2.last_payment_error is not None
    assert pi2.last_payment_error.code == "payment_intent_authentication_failure"
    pi2 = await client.v1.payment_intents.confirm_async(pi2.id, params={"payment_method": "pm_card_visa"})
    assert pi2.status == "succeeded"


async def test_3ds_then_decline_after_auth(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecureRequiredChargeDeclined",
            "confirm": True,
        }
    )
    await control.post(f"/_emulator/3ds/{pi.id}/complete")
    pi = await client.v1.payment_intents.retrieve_async(pi.id)
    assert pi.status == "requires_payment_method" and pi.last_payment_error.code == "card_declined"


async def test_off_session_authentication_required(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    for pm in (
        "pm_card_authenticationRequired",
        "pm_card_authenticationRequiredOnSetup",
        "pm_card_threeDSecure2Required",
    ):
        with pytest.raises(stripe.CardError) as exc:
            await client.v1.payment_intents.create_async(
                params={
                    "amount": 1000,
                    "currency": "usd",
                    "customer": cus.id,
                    "payment_method": pm,
                    "confirm": True,
                    "off_session": True,
                }
            )
        assert exc.value.code == "authentication_required"
        assert exc.value.error.decline_code == "authentication_required"
        assert exc.value.error.payment_intent.status == "requires_payment_method"


async def test_0446_off_session_ok_on_session_needs_auth(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    base = {"amount": 1000, "currency": "usd", "customer": cus.id, "confirm": True}
    off = await client.v1.payment_intents.create_async(
        params={
            **base,
            "payment_method": "pm_card_authenticationRequiredSetupForOffSession",
            "off_session": True,
        }
    )
    assert off.status == "succeeded"
    on = await client.v1.payment_intents.create_async(
        params={**base, "payment_method": "pm_card_authenticationRequiredSetupForOffSession"}
    )
    assert on.status == "requires_action"


async def test_3155_off_session_succeeds_only_after_setup(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    cus = await client.v1.customers.create_async()
    si = await client.v1.setup_intents.create_async(
        params={
            "customer": cus.id,
            "payment_method": "pm_card_authenticationRequiredOnSetup",
            "confirm": True,
            "usage": "off_session",
        }
    )
    check_object(si)
    assert si.status == "requires_action" and si.next_action.redirect_to_url.url.endswith(si.id)
    await control.post(f"/_emulator/3ds/{si.id}/complete")
    si = await client.v1.setup_intents.retrieve_async(si.id)
    assert si.status == "succeeded"
    pm = await client.v1.payment_methods.retrieve_async(str(si.payment_method))
    assert pm.customer == cus.id
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm.id,
            "confirm": True,
            "off_session": True,
        }
    )
    assert pi.status == "succeeded"
    on = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm.id,
            "confirm": True,
        }
    )
    assert on.status == "requires_action"


async def test_error_on_requires_action(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.payment_intents.create_async(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_threeDSecure2Required",
                "confirm": True,
                "error_on_requires_action": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert exc.value.code == "authentication_required"


async def test_setup_future_usage_attaches(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    pi = await client.v1.payment_intents.create_async(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "setup_future_usage": "off_session",
        }
    )
    pms = await client.v1.customers.payment_methods.list_async(cus.id)
    assert [p.id for p in pms.data] == [pi.payment_method]


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": 1000}, "currency", "parameter_missing"),
        ({"amount": 10, "currency": "usd"}, "amount", "amount_too_small"),
        ({"amount": 100000000, "currency": "usd"}, "amount", "amount_too_large"),
        ({"amount": "ten", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": 1000, "currency": "usd", "off_session": True}, "off_session", None),
        ({"amount": 1000, "currency": "usd", "bogus": 1}, "bogus", "parameter_unknown"),
        ({"amount": 1000, "currency": "usd", "customer": "cus_missing"}, "customer", "resource_missing"),
    ],
)
async def test_create_validation(
    client: stripe.StripeClient, params: dict[str, object], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.create_async(params=params)
    assert exc.value.param == param and exc.value.code == code


async def test_unknown_payment_intent_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        await client.v1.payment_intents.retrieve_async("pi_doesnotexist")
    assert exc.value.http_status == 404 and exc.value.code == "resource_missing"


async def test_payment_intent_list_filters_and_pagination(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    ids = []
    for i in range(5):
        pi = await client.v1.payment_intents.create_async(
            params={"amount": 100 + i, "currency": "usd", "customer": cus.id}
        )
        ids.append(pi.id)
    await client.v1.payment_intents.create_async(params={"amount": 999, "currency": "usd"})
    page = await client.v1.payment_intents.list_async(params={"customer": cus.id, "limit": 2})
    assert [p.id for p in page.data] == ids[::-1][:2] and page.has_more and page.url == "/v1/payment_intents"
    page2 = await client.v1.payment_intents.list_async(
        params={"customer": cus.id, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert [p.id for p in page2.data] == ids[::-1][2:4]
    back = await client.v1.payment_intents.list_async(
        params={"customer": cus.id, "limit": 2, "ending_before": page2.data[0].id}
    )
    assert [p.id for p in back.data] == ids[::-1][:2]
    every = [
        p.id
        async for p in (
            await client.v1.payment_intents.list_async(params={"customer": cus.id, "limit": 2})
        ).auto_paging_iter()
    ]
    assert every == ids[::-1]
