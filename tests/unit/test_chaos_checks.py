"""The chaos run's end checks on made-up audits, invoices and deliveries: each catches what it names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench.harness.checks import StripeInvoices, audit_violations, notification_violations, resend_violations
from bench.harness.flows import InvoiceExpectation, PaymentExpectation
from bench.harness.receiver import Receiver


def charge(pi: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
    return {"kind": "charge", "payment_intent": pi, "amount": amount, "status": status}


def invoice(inv: str, pi: str, status: str = "paid", amount: int = 1200) -> dict[str, Any]:
    payments = {"data": [{"payment": {"type": "payment_intent", "payment_intent": pi}}]}
    return {
        "id": inv,
        "status": status,
        "amount_paid": amount if status == "paid" else 0,
        "payments": payments,
    }


def subscription(paid: int = 2) -> InvoiceExpectation:
    return InvoiceExpectation(
        "subscription",
        "sub_1",
        "active",
        ["subscription.activated", "subscription.renewed"],
        notify_key="subscription_id",
        stripe_subscription_id="sub_stripe",
        invoices_paid=paid,
        amount=1200,
    )


def test_a_renewed_subscription_charged_once_per_invoice_passes() -> None:
    invoices = StripeInvoices({"sub_1": [invoice("in_1", "pi_1"), invoice("in_2", "pi_2")]})
    audit = [charge("pi_1", 1200), charge("pi_2", 1200)]
    assert audit_violations(audit, [subscription()], invoices) == []


def test_a_second_charge_for_one_invoice_is_a_violation() -> None:
    invoices = StripeInvoices({"sub_1": [invoice("in_1", "pi_1"), invoice("in_2", "pi_2")]})
    audit = [charge("pi_1", 1200), charge("pi_2", 1200), charge("pi_2", 1200)]
    [found] = audit_violations(audit, [subscription()], invoices)
    assert "in_2" in found and "2 successful charges for 2400, expected 1 for 1200" in found


def test_fewer_paid_invoices_than_renewals_is_a_violation() -> None:
    invoices = StripeInvoices({"sub_1": [invoice("in_1", "pi_1"), invoice("in_2", "pi_2", status="open")]})
    audit = [charge("pi_1", 1200), charge("pi_2", 1200, status="failed")]
    assert audit_violations(audit, [subscription()], invoices) == [
        "subscription sub_1: 1 invoices paid at Stripe, expected 2"
    ]


def test_a_charge_no_flow_made_is_a_violation() -> None:
    paid = PaymentExpectation("saved_card", "pay_1", "completed", intent_id="pi_1", captured=1800)
    audit = [charge("pi_1", 1800), charge("pi_stray", 1800)]
    assert audit_violations(audit, [paid], StripeInvoices()) == [
        "1 successful charge(s) on pi_stray that no flow made"
    ]


def test_notifications_are_counted_per_object_and_type() -> None:
    receiver = Receiver()
    for event_id, kind in (("e1", "subscription.activated"), ("e2", "subscription.renewed")):
        receiver.accepted[event_id] += 1
        receiver.types[event_id] = kind
        receiver.data[event_id] = {"subscription_id": "sub_1"}
    receiver.accepted["e2"] += 1  # a repeat delivery of an accepted event
    expected = subscription()
    assert notification_violations(receiver, [expected], []) == ([], 1)
    expected.notification_types.append("subscription.renewed")  # a second renewal never notified
    violations, _ = notification_violations(receiver, [expected], [])
    assert violations == [
        "subscription sub_1: 1 of 2 subscription.renewed notifications accepted by the merchant"
    ]


def test_a_notification_the_ledger_still_owes_is_a_violation() -> None:
    pending = {"id": "payment/m/k:payment.completed", "status": "pending", "attempts": 2}
    pending["attempt_log"] = [{"status_code": 503}, {"status_code": 503}]
    violations, _ = notification_violations(Receiver(), [], [pending])
    assert violations == ["notification payment/m/k:payment.completed pending after 2 attempts [503, 503]"]


def test_a_repeat_sent_before_billflow_stored_the_2xx_is_the_crash_window_not_a_violation() -> None:
    # The worker died while its POST was in flight: the merchant accepted, billflow never saw the
    # 2xx, and the retry sent the same event id again (the merchant dedupes on it).
    receiver = Receiver()
    receiver.accepted_at["e1"] += [100.0, 130.0]
    delivered = {"e1": datetime.fromtimestamp(130.5, UTC)}
    assert resend_violations(receiver, delivered) == []


def test_an_event_sent_again_after_billflow_stored_its_2xx_is_a_violation() -> None:
    receiver = Receiver()
    receiver.accepted_at["e1"] += [100.0, 160.0]
    receiver.accepted_at["e2"] += [100.0]
    delivered = {"e1": datetime.fromtimestamp(100.2, UTC), "e2": datetime.fromtimestamp(100.2, UTC)}
    assert resend_violations(receiver, delivered) == [
        "notification e1 accepted again 59.8 s after billflow recorded its 2xx"
    ]
