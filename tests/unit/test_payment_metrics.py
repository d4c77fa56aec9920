"""billflow_payments_total counts each payment state change the ledger records, once."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from activities.payments_ledger import PaymentLedgerActivities
from billflow.ledger.db import Ledger
from billflow.payments import PaymentRecord, PaymentState, PaymentStatus
from tests.conftest import add_merchant


def counted(status: str) -> float:
    return REGISTRY.get_sample_value("billflow_payments_total", {"status": status}) or 0.0


def test_each_recorded_state_change_is_counted_once_by_status(ledger: Ledger) -> None:
    merchant_id = add_merchant(ledger, "sk_test_metrics")
    wid = f"payment/{merchant_id}/{uuid.uuid4().hex}"
    state = PaymentState(
        payment_id=f"pay_{uuid.uuid4().hex[:24]}",
        workflow_id=wid,
        merchant_id=merchant_id,
        amount_minor=500,
        currency="usd",
        capture_method="automatic",
    )
    acts = PaymentLedgerActivities(ledger)
    before = {s: counted(s) for s in ("processing", "completed")}

    acts.record_payment(PaymentRecord(state=state))
    acts.record_payment(PaymentRecord(state=state))  # a retried activity records the same state again
    acts.record_payment(PaymentRecord(state=state.model_copy(update={"status": PaymentStatus.COMPLETED})))

    assert counted("processing") - before["processing"] == 1
    assert counted("completed") - before["completed"] == 1
