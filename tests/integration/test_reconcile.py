"""ReconcileWorkflow reads the emulator and the ledger and reports exactly the planted differences."""

from __future__ import annotations

import time
import uuid

import stripe
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.registry import Deps
from activities.stripe_client import make_client
from billflow.config import Settings
from billflow.ledger import Invoice, Payment, ReconciliationDifference
from billflow.ledger.db import Ledger
from tests.conftest import add_merchant
from tests.replay.history_files import record_history
from worker import build_worker
from workflows.reconcile import ReconcileInput, ReconcileWorkflow


async def _intent(client: stripe.StripeClient, wid: str, amount: int) -> stripe.PaymentIntent:
    return await client.v1.payment_intents.create_async(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": "https://example.com/back",
            "metadata": {"workflow_id": wid},
        }
    )


async def test_reconcile_reports_planted_differences(
    ts_env: WorkflowEnvironment, task_queue: str, sqlite_url: str, emulator_url: str
) -> None:
    key = f"sk_test_{uuid.uuid4().hex}"
    settings = Settings(database_url=sqlite_url, stripe_api_base=emulator_url)
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    merchant = add_merchant(ledger, key)
    client = make_client(key, emulator_url)
    good = await _intent(client, "payment/m/good", 1000)
    wrong = await _intent(client, "payment/m/wrong", 2000)
    orphan = await _intent(client, "payment/m/orphan", 3000)
    held = await client.v1.payment_intents.create_async(
        params={
            "amount": 4000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
            "return_url": "https://example.com/back",
            "metadata": {"workflow_id": "payment/m/partial"},
        }
    )
    partial = await client.v1.payment_intents.capture_async(held.id, params={"amount_to_capture": 2500})
    with ledger.session() as s:
        s.add(
            Payment(
                id=f"pay_{partial.id}",
                merchant_id=merchant,
                workflow_id="payment/m/partial",
                status="completed",
                amount_minor=4000,
                currency="usd",
                amount_captured_minor=2500,
                capture_method="manual",
                stripe_payment_intent_id=partial.id,
            )
        )
        for pi, amount in ((good, 1000), (wrong, 2500)):
            s.add(
                Payment(
                    id=f"pay_{pi.id}",
                    merchant_id=merchant,
                    workflow_id=f"wf-{pi.id}",
                    status="completed",
                    amount_minor=amount,
                    currency="usd",
                    amount_captured_minor=amount,
                    capture_method="automatic",
                    stripe_payment_intent_id=pi.id,
                )
            )

    deps = Deps.build(settings)
    async with build_worker(ts_env.client, deps, task_queue=task_queue):
        result = await ts_env.client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(merchant_ids=[merchant], settle_seconds=0),
            id=f"reconcile/{uuid.uuid4()}",
            task_queue=task_queue,
        )
    await record_history(ts_env.client.get_workflow_handle(result.run_key.rsplit("/", 1)[0]), "reconcile")
    [report] = result.reports
    found = {(d.object_id, d.field) for d in report.differences}
    assert found == {(wrong.id, "amount"), (wrong.id, "amount_captured"), (orphan.id, "missing_in_ledger")}
    assert report.checked["payment_intents"] == 4
    with ledger.session() as s:
        stored = s.scalars(
            select(ReconciliationDifference).where(ReconciliationDifference.run_key == result.run_key)
        ).all()
    assert {(d.object_id, d.field) for d in stored} == found
    ledger.dispose()


async def test_invoices_of_a_test_clock_customer_are_found_at_stripe(
    ts_env: WorkflowEnvironment, task_queue: str, sqlite_url: str, emulator_url: str
) -> None:
    """Stripe stamps a test-clock customer's invoices with the clock's time, weeks after today's:
    they are still the ledger's invoices, not missing at Stripe."""
    key = f"sk_test_{uuid.uuid4().hex}"
    settings = Settings(database_url=sqlite_url, stripe_api_base=emulator_url)
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    merchant = add_merchant(ledger, key)
    client = make_client(key, emulator_url)
    clock = await client.v1.test_helpers.test_clocks.create_async({"frozen_time": int(time.time())})
    await client.v1.test_helpers.test_clocks.advance_async(
        clock.id, {"frozen_time": clock.frozen_time + 40 * 86400}
    )
    customer = await client.v1.customers.create_async({"test_clock": clock.id})
    pm = await client.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    await client.v1.customers.update_async(
        customer.id, {"invoice_settings": {"default_payment_method": pm.id}}
    )
    await client.v1.invoice_items.create_async({"customer": customer.id, "amount": 1500, "currency": "usd"})
    draft = await client.v1.invoices.create_async(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert draft.id is not None and draft.created > time.time() + 30 * 86400
    await client.v1.invoices.finalize_invoice_async(draft.id)
    paid = await client.v1.invoices.pay_async(draft.id)
    assert paid.status == "paid"
    with ledger.session() as s:
        s.add(
            Invoice(
                stripe_invoice_id=draft.id,
                merchant_id=merchant,
                stripe_customer_id=customer.id,
                status="paid",
                amount_due_minor=1500,
                amount_paid_minor=1500,
                currency="usd",
            )
        )
    deps = Deps.build(settings)
    async with build_worker(ts_env.client, deps, task_queue=task_queue):
        result = await ts_env.client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(merchant_ids=[merchant], settle_seconds=0),
            id=f"reconcile/{uuid.uuid4()}",
            task_queue=task_queue,
        )
    [report] = result.reports
    assert report.differences == []
    assert report.checked["invoices"] == 1
    ledger.dispose()
