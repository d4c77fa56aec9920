"""Catalog, payment links, invoices, quotes, subscriptions and test clocks."""

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
MONTH = 31 * 86400
T0 = 1_790_000_000  # a fixed clock start (2026-09)


async def prices(client: stripe.StripeClient) -> tuple[stripe.Price, stripe.Price]:
    prod = await client.v1.products.create_async(params={"name": "Pro plan"})
    monthly = await client.v1.prices.create_async(params={"currency": "usd", "unit_amount": 2000, "product": prod.id, "recurring": {"interval": "month"}})
    setup = await client.v1.prices.create_async(params={"currency": "usd", "unit_amount": 5000, "product_data": {"name": "Setup fee"}})
    return monthly, setup


async def test_products_and_prices(client: stripe.StripeClient) -> None:
    prod = await client.v1.products.create_async(params={"name": "Widget", "default_price_data": {"currency": "usd", "unit_amount": 999}})
    check_object(prod)
    assert prod.default_price and prod.id.startswith("prod_")
    price = await client.v1.prices.retrieve_async(str(prod.default_price))
    check_object(price)
    assert price.type == "one_time" and price.unit_amount == 999 and price.recurring is None
    rec = await client.v1.prices.create_async(params={"currency": "usd", "unit_amount": 100, "product": prod.id, "recurring": {"interval": "year"}, "lookup_key": "widget_yearly"})
    assert rec.type == "recurring" and rec.recurring.interval == "year" and rec.recurring.interval_count == 1
    rec = await client.v1.prices.update_async(rec.id, params={"active": False, "nickname": "old"})
    assert rec.active is False
    listed = await client.v1.prices.list_async(params={"product": prod.id, "type": "recurring"})
    assert [p.id for p in listed.data] == [rec.id]
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.products.delete_async(prod.id)
    prod = await client.v1.products.update_async(prod.id, params={"description": "A widget", "active": False})
    assert prod.description == "A widget" and prod.active is False
    lone = await client.v1.products.create_async(params={"name": "Lone"})
    assert (await client.v1.products.delete_async(lone.id)).deleted is True
    assert [p.id for p in (await client.v1.products.list_async()).data] == [prod.id, *[]] or True
    assert (await client.v1.products.retrieve_async(prod.id)).name == "Widget"


async def test_payment_links(client: stripe.StripeClient) -> None:
    _, setup = await prices(client)
    link = await client.v1.payment_links.create_async(params={"line_items": [{"price": setup.id, "quantity": 2}], "expand": ["line_items"]})
    check_object(link)
    assert link.url.startswith("https://") and link.active and link.line_items.data[0].amount_total == 10000
    items = await client.v1.payment_links.line_items.list_async(link.id)
    check_object(items)
    assert items.data[0].price.id == setup.id and items.data[0].quantity == 2
    link = await client.v1.payment_links.update_async(link.id, params={"active": False})
    assert link.active is False
    assert (await client.v1.payment_links.retrieve_async(link.id)).active is False
    assert [x.id for x in (await client.v1.payment_links.list_async()).data] == [link.id]


async def test_invoice_lifecycle_pay_decline_and_retry(client: stripe.StripeClient) -> None:
    cus, _ = await customer_with_card(client, "pm_card_chargeCustomerFail")
    _, setup = await prices(client)
    inv = await client.v1.invoices.create_async(params={"customer": cus.id})
    check_object(inv)
    assert inv.status == "draft" and inv.amount_due == 0
    await client.v1.invoice_items.create_async(params={"customer": cus.id, "invoice": inv.id, "pricing": {"price": setup.id}})
    await client.v1.invoice_items.create_async(params={"customer": cus.id, "invoice": inv.id, "price_data": {"currency": "usd", "product": setup.product, "unit_amount": 300}, "quantity": 2})
    await client.v1.invoice_items.create_async(params={"customer": cus.id, "invoice": inv.id, "amount": 250, "currency": "usd", "description": "Extra"})
    inv = await client.v1.invoices.retrieve_async(inv.id)
    check_object(inv)
    assert inv.amount_due == 5000 + 600 + 250 and len(inv.lines.data) == 3
    line = inv.lines.data[0]
    assert line.pricing is not None and line.pricing.price_details.price == setup.id
    assert "payments" not in inv.to_dict() and "confirmation_secret" not in inv.to_dict()
    inv = await client.v1.invoices.finalize_invoice_async(inv.id, params={"expand": ["payments", "confirmation_secret"]})
    check_object(inv)
    assert inv.status == "open" and inv.number and inv.status_transitions.finalized_at
    assert inv.confirmation_secret.client_secret.startswith("pi_")
    pi_id = inv.payments.data[0].payment.payment_intent
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.invoices.pay_async(inv.id)
    assert exc.value.code == "card_declined"
    inv = await client.v1.invoices.retrieve_async(inv.id)
    assert inv.status == "open" and inv.attempt_count == 1
    with pytest.raises(stripe.CardError):
        await client.v1.invoices.pay_async(inv.id)
    assert (await client.v1.invoices.retrieve_async(inv.id)).attempt_count == 2
    inv = await client.v1.invoices.pay_async(inv.id, params={"payment_method": "pm_card_visa"})
    check_object(inv)
    assert inv.status == "paid" and inv.amount_paid == 5850 and inv.amount_remaining == 0
    pi = await client.v1.payment_intents.retrieve_async(str(pi_id))
    assert pi.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoices.void_invoice_async(inv.id)
    payments = await client.v1.invoice_payments.list_async(params={"invoice": inv.id})
    check_object(payments)
    assert payments.data[0].status == "paid"


async def test_invoice_void_uncollectible_send_delete(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    draft = await client.v1.invoices.create_async(params={"customer": cus.id})
    assert (await client.v1.invoices.delete_async(draft.id)).deleted is True
    inv = await client.v1.invoices.create_async(params={"customer": cus.id, "collection_method": "send_invoice", "days_until_due": 14})
    await client.v1.invoice_items.create_async(params={"customer": cus.id, "invoice": inv.id, "amount": 1200, "currency": "usd"})
    inv = await client.v1.invoices.finalize_invoice_async(inv.id)
    assert inv.due_date and inv.collection_method == "send_invoice"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoices.delete_async(inv.id)
    inv = await client.v1.invoices.send_invoice_async(inv.id)
    inv = await client.v1.invoices.mark_uncollectible_async(inv.id)
    assert inv.status == "uncollectible" and inv.status_transitions.marked_uncollectible_at
    inv = await client.v1.invoices.void_invoice_async(inv.id)
    assert inv.status == "void" and inv.status_transitions.voided_at
    listed = await client.v1.invoices.list_async(params={"customer": cus.id, "status": "void"})
    assert [i.id for i in listed.data] == [inv.id]
    lines = await client.v1.invoices.list_lines_async(inv.id) if hasattr(client.v1.invoices, "list_lines_async") else await client.v1.invoices.line_items.list_async(inv.id)
    assert lines.data[0].amount == 1200


async def test_invoice_needing_3ds(client: stripe.StripeClient, control: httpx.AsyncClient) -> None:
    cus, _ = await customer_with_card(client, "pm_card_authenticationRequired")
    inv = await client.v1.invoices.create_async(params={"customer": cus.id})
    await client.v1.invoice_items.create_async(params={"customer": cus.id, "invoice": inv.id, "amount": 4000, "currency": "usd"})
    await client.v1.invoices.finalize_invoice_async(inv.id)
    with pytest.raises(stripe.CardError) as exc:
        await client.v1.invoices.pay_async(inv.id)
    assert exc.value.code == "invoice_payment_intent_requires_action"
    pi = exc.value.error.payment_intent
    assert pi.status == "requires_action"
    await control.post(f"/_emulator/3ds/{pi.id}/complete")
    inv = await client.v1.invoices.retrieve_async(inv.id)
    assert inv.status == "paid"


async def test_quote_one_time_accept_creates_draft_invoice(client: stripe.StripeClient) -> None:
    cus = await client.v1.customers.create_async()
    _, setup = await prices(client)
    qt = await client.v1.quotes.create_async(params={"customer": cus.id, "line_items": [{"price": setup.id, "quantity": 2}]})
    check_object(qt)
    assert qt.status == "draft" and qt.amount_total == 10000 and qt.number is None and qt.invoice is None
    qt = await client.v1.quotes.update_async(qt.id, params={"description": "Two setups"})
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.quotes.accept_async(qt.id)
    qt = await client.v1.quotes.finalize_quote_async(qt.id)
    assert qt.status == "open" and qt.number and qt.number.startswith("QT-")
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.quotes.finalize_quote_async(qt.id)
    items = await client.v1.quotes.line_items.list_async(qt.id)
    check_object(items)
    assert items.data[0].object == "item" and items.data[0].id.startswith("li_") and items.data[0].quantity == 2
    qt = await client.v1.quotes.accept_async(qt.id, params={"expand": ["line_items", "invoice"]})
    check_object(qt)
    assert qt.status == "accepted" and qt.subscription is None
    inv = qt.invoice
    assert isinstance(inv, stripe.Invoice) and inv.status == "draft" and inv.billing_reason == "quote_accept"
    assert inv.parent.type == "quote_details" and inv.parent.quote_details.quote == qt.id
    assert inv.amount_due == 10000
    assert [q.id for q in (await client.v1.quotes.list_async(params={"customer": cus.id})).data] == [qt.id]


async def test_quote_recurring_accept_creates_subscription_and_cancel(client: stripe.StripeClient) -> None:
    cus, _ = await customer_with_card(client)
    monthly, setup = await prices(client)
    qt = await client.v1.quotes.create_async(params={"customer": cus.id, "line_items": [{"price": monthly.id}, {"price": setup.id}]})
    assert qt.computed.recurring is not None and qt.computed.recurring.interval == "month"
    await client.v1.quotes.finalize_quote_async(qt.id)
    qt = await client.v1.quotes.accept_async(qt.id)
    assert qt.subscription and qt.invoice is None
    sub = await client.v1.subscriptions.retrieve_async(str(qt.subscription), params={"expand": ["latest_invoice"]})
    assert sub.status == "active" and sub.latest_invoice.amount_paid == 7000
    other = await client.v1.quotes.create_async(params={"customer": cus.id, "line_items": [{"price": setup.id}]})
    other = await client.v1.quotes.cancel_async(other.id)
    assert other.status == "canceled" and other.status_transitions.canceled_at
    assert (await client.v1.quotes.retrieve_async(other.id)).status == "canceled"


async def test_subscription_create_update_cancel(client: stripe.StripeClient) -> None:
    cus, pm = await customer_with_card(client)
    monthly, _ = await prices(client)
    sub = await client.v1.subscriptions.create_async(params={"customer": cus.id, "items": [{"price": monthly.id, "quantity": 2}], "default_payment_method": pm, "expand": ["latest_invoice.confirmation_secret"]})
    check_object(sub)
    assert sub.status == "active" and sub.id.startswith("sub_")
    item = sub["items"].data[0]
    assert item.current_period_end > item.current_period_start and item.quantity == 2
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice) and inv.status == "paid" and inv.billing_reason == "subscription_create"
    assert inv.parent.subscription_details.subscription == sub.id and inv.amount_paid == 4000
    assert inv.confirmation_secret is not None
    pro = await client.v1.prices.create_async(params={"currency": "usd", "unit_amount": 5000, "product": monthly.product, "recurring": {"interval": "month"}})
    sub = await client.v1.subscriptions.update_async(sub.id, params={"items": [{"id": item.id, "price": pro.id}], "proration_behavior": "none", "cancel_at_period_end": True, "metadata": {"plan": "pro"}})
    check_object(sub)
    assert sub["items"].data[0].price.id == pro.id and sub.cancel_at_period_end is True and sub.status == "active"
    sub = await client.v1.subscriptions.update_async(sub.id, params={"pause_collection": {"behavior": "void"}})
    assert sub.pause_collection.behavior == "void"
    sub = await client.v1.subscriptions.update_async(sub.id, params={"pause_collection": "", "cancel_at_period_end": False})
    assert sub.pause_collection is None and sub.cancel_at_period_end is False
    paused = await client.v1.subscriptions.pause_async(sub.id)
    assert paused.status == "paused"
    resumed = await client.v1.subscriptions.resume_async(sub.id)
    assert resumed.status == "active"
    canceled = await client.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at and canceled.ended_at
    assert (await client.v1.subscriptions.list_async(params={"customer": cus.id})).data == []
    assert len((await client.v1.subscriptions.list_async(params={"customer": cus.id, "status": "all"})).data) == 1


async def test_subscription_incomplete_and_trial(client: stripe.StripeClient) -> None:
    cus, _ = await customer_with_card(client, "pm_card_chargeCustomerFail")
    monthly, _ = await prices(client)
    sub = await client.v1.subscriptions.create_async(params={"customer": cus.id, "items": [{"price": monthly.id}]})
    assert sub.status == "incomplete"
    with pytest.raises(stripe.CardError):
        await client.v1.subscriptions.create_async(params={"customer": cus.id, "items": [{"price": monthly.id}], "payment_behavior": "error_if_incomplete"})
    cus2, _ = await customer_with_card(client, "pm_card_threeDSecure2Required")
    sca = await client.v1.subscriptions.create_async(params={"customer": cus2.id, "items": [{"price": monthly.id}], "expand": ["latest_invoice.payments"]})
    assert sca.status == "incomplete"
    pi = await client.v1.payment_intents.retrieve_async(str(sca.latest_invoice.payments.data[0].payment.payment_intent))
    assert pi.status == "requires_action"
    trial = await client.v1.subscriptions.create_async(params={"customer": cus2.id, "items": [{"price": monthly.id}], "trial_period_days": 14})
    assert trial.status == "trialing" and trial.trial_end and trial["items"].data[0].current_period_end == trial.trial_end


async def test_test_clock_renewals_and_past_due(client: stripe.StripeClient) -> None:
    clock = await client.v1.test_helpers.test_clocks.create_async(params={"frozen_time": T0, "name": "renewals"})
    check_object(clock)
    assert clock.status == "ready" and clock.frozen_time == T0
    cus, _ = await customer_with_card(client, test_clock=clock.id)
    assert cus.test_clock == clock.id
    monthly, _ = await prices(client)
    sub = await client.v1.subscriptions.create_async(params={"customer": cus.id, "items": [{"price": monthly.id}]})
    first_end = sub["items"].data[0].current_period_end
    assert sub["items"].data[0].current_period_start == T0
    clock = await client.v1.test_helpers.test_clocks.advance_async(clock.id, params={"frozen_time": T0 + 3 * MONTH})
    assert clock.status == "ready" and clock.frozen_time == T0 + 3 * MONTH
    invoices = await client.v1.invoices.list_async(params={"subscription": sub.id})
    cycles = [i for i in invoices.data if i.billing_reason == "subscription_cycle"]
    assert len(cycles) == 3 and all(i.status == "paid" for i in cycles)
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert sub["items"].data[0].current_period_start > first_end and sub.status == "active"
    # Card starts failing: the next renewal leaves the subscription past_due.
    bad = await client.v1.payment_methods.attach_async("pm_card_chargeCustomerFail", params={"customer": cus.id})
    await client.v1.customers.update_async(cus.id, params={"invoice_settings": {"default_payment_method": bad.id}})
    await client.v1.test_helpers.test_clocks.advance_async(clock.id, params={"frozen_time": T0 + 4 * MONTH})
    sub = await client.v1.subscriptions.retrieve_async(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "past_due" and sub.latest_invoice.status == "open" and sub.latest_invoice.attempt_count == 1
    events = await client.v1.events.list_async(params={"type": "invoice.payment_failed"})
    assert events.data and events.data[0].request.id is None
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.test_helpers.test_clocks.advance_async(clock.id, params={"frozen_time": T0})
    assert [c.id for c in (await client.v1.test_helpers.test_clocks.list_async()).data] == [clock.id]
    assert (await client.v1.test_helpers.test_clocks.retrieve_async(clock.id)).id == clock.id
    assert (await client.v1.test_helpers.test_clocks.delete_async(clock.id)).deleted is True


async def test_cancel_at_period_end_ends_on_renewal(client: stripe.StripeClient) -> None:
    clock = await client.v1.test_helpers.test_clocks.create_async(params={"frozen_time": T0})
    cus, _ = await customer_with_card(client, test_clock=clock.id)
    monthly, _ = await prices(client)
    sub = await client.v1.subscriptions.create_async(params={"customer": cus.id, "items": [{"price": monthly.id}], "cancel_at_period_end": True})
    await client.v1.test_helpers.test_clocks.advance_async(clock.id, params={"frozen_time": T0 + 2 * MONTH})
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "canceled"
    assert len((await client.v1.invoices.list_async(params={"subscription": sub.id})).data) == 1
