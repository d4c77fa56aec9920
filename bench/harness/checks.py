"""The invariants a chaos run must end with; each violation is one readable line."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.harness.flows import Expectation, InvoiceExpectation, PaymentExpectation
from bench.harness.receiver import Receiver
from bench.harness.stack import IsolatedStack, Merchant
from billflow.money import to_minor
from workflows.reconcile import ReconcileInput, ReconcileResult, ReconcileWorkflow


def api_path(e: Expectation) -> str:
    """Where the API shows the object a flow made."""
    if isinstance(e, InvoiceExpectation):
        return f"/v1/{'subscriptions' if e.stripe_subscription_id else 'quotes'}/{e.object_id}"
    return f"/v1/payments/{e.object_id}"


async def final_statuses(http: httpx.AsyncClient, expectations: list[Expectation]) -> list[str]:
    """Every flow's object in its expected end (or expected waiting) state, as the API shows it."""
    out = []
    for e in expectations:
        data = (await http.get(api_path(e))).json()["data"]
        if data["status"] != e.status:
            out.append(f"{e.kind} {e.object_id}: status {data['status']}, expected {e.status}")
        if isinstance(e, InvoiceExpectation) and e.stripe_subscription_id:
            if data["periods_paid"] != e.invoices_paid:
                out.append(
                    f"{e.kind} {e.object_id}: ledger says {data['periods_paid']} periods paid, "
                    f"expected {e.invoices_paid}"
                )
    return out


@dataclass
class StripeInvoices:
    """The emulator's invoices of every subscription and quote flow, read once the run is over."""

    of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # object id -> Stripe invoices

    @staticmethod
    def intents(invoice: dict[str, Any]) -> list[str]:
        payments = (invoice.get("payments") or {}).get("data") or []
        return [
            p["payment"]["payment_intent"] for p in payments if p.get("payment", {}).get("payment_intent")
        ]


async def stripe_invoices(
    emulator: httpx.AsyncClient, stripe_key: str, expectations: list[Expectation]
) -> StripeInvoices:
    auth = {"Authorization": f"Bearer {stripe_key}"}
    found = StripeInvoices()
    for e in expectations:
        if not isinstance(e, InvoiceExpectation):
            continue
        if e.stripe_subscription_id:
            params = {"subscription": e.stripe_subscription_id, "limit": "100", "expand[]": "data.payments"}
            listed = (await emulator.get("/v1/invoices", params=params, headers=auth)).json()
            found.of[e.object_id] = list(listed["data"])
        elif e.stripe_invoice_id:
            one = await emulator.get(
                f"/v1/invoices/{e.stripe_invoice_id}", params={"expand[]": "payments"}, headers=auth
            )
            found.of[e.object_id] = [one.json()]
        else:
            found.of[e.object_id] = []
    return found


def audit_violations(
    audit: list[dict[str, Any]], expectations: list[Expectation], invoices: StripeInvoices
) -> list[str]:
    """Exactly one charge per completed payment and per paid invoice, none for failed payments, refunds
    never above captures, and no successful charge that no flow accounts for."""
    charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    captured: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for entry in audit:
        pi = entry.get("payment_intent") or ""
        if entry["kind"] == "charge" and entry["status"] in ("succeeded", "authorized"):
            charges[pi].append(entry)
            if entry["status"] == "succeeded":
                captured[pi] += entry["amount"]
        elif entry["kind"] == "capture":
            captured[pi] += entry["amount"]
        elif entry["kind"] == "refund":
            refunded[pi] += entry["amount"]
    out: list[str] = []
    claimed: set[str] = set()
    for e in expectations:
        if isinstance(e, PaymentExpectation):
            pi = e.intent_id or ""
            claimed.add(pi)
            n = len(charges[pi])
            if e.status == "completed" and n != 1:
                out.append(f"{e.kind} {e.object_id}: {n} successful charges at Stripe, expected exactly 1")
            if e.status != "completed" and n:
                out.append(
                    f"{e.kind} {e.object_id}: {n} successful charges for a payment that did not complete"
                )
            if captured[pi] != e.captured:
                out.append(f"{e.kind} {e.object_id}: captured {captured[pi]}, expected {e.captured}")
            if refunded[pi] > captured[pi]:
                out.append(f"{e.kind} {e.object_id}: refunded {refunded[pi]} > captured {captured[pi]}")
            if refunded[pi] != e.refunded:
                out.append(f"{e.kind} {e.object_id}: refunded {refunded[pi]}, expected {e.refunded}")
        elif isinstance(e, InvoiceExpectation):
            found = invoices.of.get(e.object_id, [])
            paid = [i for i in found if i["status"] == "paid"]
            if len(paid) != e.invoices_paid:
                out.append(
                    f"{e.kind} {e.object_id}: {len(paid)} invoices paid at Stripe, expected {e.invoices_paid}"
                )
            for inv in found:
                intents = StripeInvoices.intents(inv)
                claimed.update(intents)
                n = sum(len(charges[pi]) for pi in intents)
                taken = sum(captured[pi] for pi in intents)
                want = (1, inv["amount_paid"]) if inv["status"] == "paid" else (0, 0)
                if (n, taken) != want:
                    out.append(
                        f"{e.kind} {e.object_id}: invoice {inv['id']} ({inv['status']}) has {n} successful "
                        f"charges for {taken}, expected {want[0]} for {want[1]}"
                    )
                if inv["status"] == "paid" and inv["amount_paid"] != e.amount:
                    out.append(
                        f"{e.kind} {e.object_id}: invoice {inv['id']} paid {inv['amount_paid']}, expected {e.amount}"
                    )
    for pi, entries in charges.items():
        if pi not in claimed:
            out.append(f"{len(entries)} successful charge(s) on {pi or 'no PaymentIntent'} that no flow made")
    return out


async def ledger_invoice_violations(
    http: httpx.AsyncClient, expectations: list[Expectation], invoices: StripeInvoices
) -> list[str]:
    """The ledger has every invoice Stripe paid for a subscription or quote, paid, and no more."""
    out: list[str] = []
    for e in expectations:
        if not isinstance(e, InvoiceExpectation):
            continue
        found = invoices.of.get(e.object_id, [])
        stripe_paid = {i["id"]: i["amount_paid"] for i in found if i["status"] == "paid"}
        customers = {i["customer"] for i in found}
        ledger_paid: dict[str, int] = {}
        for customer in customers:
            listed = (await http.get("/v1/invoices", params={"customer": customer, "limit": 100})).json()
            for row in listed["data"]["data"]:
                mine = (
                    row["stripe_subscription_id"] == e.stripe_subscription_id
                    if e.stripe_subscription_id
                    else row["id"] == e.stripe_invoice_id
                )
                if mine and row["status"] == "paid":
                    ledger_paid[row["id"]] = to_minor(Decimal(str(row["amount_paid"])), row["currency"])
        if ledger_paid != stripe_paid:
            out.append(
                f"{e.kind} {e.object_id}: ledger paid invoices {ledger_paid} != Stripe's {stripe_paid}"
            )
    return out


def notification_violations(
    receiver: Receiver, expectations: list[Expectation], undelivered: list[dict[str, Any]]
) -> tuple[list[str], int]:
    """Every promised notification accepted by the merchant, and nothing the ledger owes left pending
    or failed; returns violations and how many repeats the receiver saw."""
    seen: Counter[tuple[str, str, str]] = Counter()
    keys = {e.notify_key for e in expectations}
    for event_id, kind in receiver.types.items():
        data = receiver.data.get(event_id, {})
        for key in keys:
            if data.get(key):
                seen[(key, str(data[key]), kind)] += 1
    out = []
    for e in expectations:
        for kind, wanted in Counter(e.notification_types).items():
            got = seen[(e.notify_key, e.object_id, kind)]
            if got < wanted:
                out.append(
                    f"{e.kind} {e.object_id}: {got} of {wanted} {kind} notifications accepted by the merchant"
                )
    for n in undelivered:
        codes = [a["status_code"] for a in n.get("attempt_log", [])]
        out.append(f"notification {n['id']} {n['status']} after {n['attempts']} attempts {codes}")
    repeats = sum(count - 1 for count in receiver.accepted.values())
    return out, repeats


def resend_violations(receiver: Receiver, delivered: Mapping[str, datetime | None]) -> list[str]:
    """Deliveries the merchant accepted after billflow had recorded a 2xx for the same event.

    A repeat that arrived before the ledger's `delivered_at` is the at-least-once window of a
    worker killed between the merchant's answer and storing it; one after it means billflow sent
    an event again although it knew the merchant had it."""
    out = []
    for event_id, times in sorted(receiver.accepted_at.items()):
        stored = delivered.get(event_id)
        if len(times) < 2 or stored is None:
            continue
        stored_at = (stored if stored.tzinfo else stored.replace(tzinfo=UTC)).timestamp()
        late = [t - stored_at for t in times if t > stored_at]
        if late:
            out.append(
                f"notification {event_id} accepted again {max(late):.1f} s after billflow recorded its 2xx"
            )
    return out


async def delivered_times(http: httpx.AsyncClient, event_ids: list[str]) -> dict[str, datetime | None]:
    """The ledger's `delivered_at` of each notification."""
    out: dict[str, datetime | None] = {}
    for event_id in event_ids:
        got = (await http.get(f"/v1/merchant/notifications/{event_id}")).json()["data"]["delivered_at"]
        out[event_id] = datetime.fromisoformat(got) if got else None
    return out


async def undelivered_notifications(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The merchant's notifications the ledger still has pending, or gave up on."""
    found: list[dict[str, Any]] = []
    for status in ("pending", "failed"):
        listed = await http.get("/v1/merchant/notifications", params={"status": status, "limit": 100})
        found += listed.json()["data"]
    return found


async def reconcile(stack: IsolatedStack, merchant: Merchant) -> ReconcileResult:
    client = await Client.connect(stack.settings.temporal_address, data_converter=pydantic_data_converter)
    return await client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(merchant_ids=[merchant.id], settle_seconds=0),
        id=f"reconcile/chaos/{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.temporal_task_queue,
    )
