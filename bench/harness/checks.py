"""The invariants a chaos run must end with; each violation is one readable line."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.harness.flows import Expectation
from bench.harness.receiver import Receiver
from bench.harness.stack import IsolatedStack, Merchant
from workflows.reconcile import ReconcileInput, ReconcileResult, ReconcileWorkflow


async def final_statuses(http: httpx.AsyncClient, expectations: list[Expectation]) -> list[str]:
    out = []
    for e in expectations:
        data = (await http.get(f"/v1/payments/{e.payment_id}")).json()["data"]
        if data["status"] != e.status:
            out.append(f"{e.kind} {e.payment_id}: status {data['status']}, expected {e.status}")
    return out


def audit_violations(audit: list[dict[str, Any]], expectations: list[Expectation]) -> list[str]:
    """Exactly one charge per completed payment, none for failed ones, refunds never above captures."""
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
    out = []
    for e in expectations:
        pi = e.intent_id or ""
        n = len(charges[pi])
        if e.status == "completed" and n != 1:
            out.append(f"{e.kind} {e.payment_id}: {n} successful charges at Stripe, expected exactly 1")
        if e.status != "completed" and n:
            out.append(f"{e.kind} {e.payment_id}: {n} successful charges for a payment that did not complete")
        if captured[pi] != e.captured:
            out.append(f"{e.kind} {e.payment_id}: captured {captured[pi]}, expected {e.captured}")
        if refunded[pi] > captured[pi]:
            out.append(f"{e.kind} {e.payment_id}: refunded {refunded[pi]} > captured {captured[pi]}")
        if refunded[pi] != e.refunded:
            out.append(f"{e.kind} {e.payment_id}: refunded {refunded[pi]}, expected {e.refunded}")
    return out


def notification_violations(receiver: Receiver, expectations: list[Expectation]) -> tuple[list[str], int]:
    """Every promised notification accepted; returns violations and how many repeats the receiver saw."""
    by_payment: dict[tuple[str, str], int] = defaultdict(int)
    for event_id, kind in receiver.types.items():
        payment_id = str(receiver.data.get(event_id, {}).get("payment_id", ""))
        by_payment[(payment_id, kind)] += 1
    out = [
        f"{e.kind} {e.payment_id}: notification {kind} never accepted by the merchant"
        for e in expectations
        for kind in e.notification_types
        if not by_payment[(e.payment_id, kind)]
    ]
    repeats = sum(count - 1 for count in receiver.accepted.values())
    return out, repeats


async def reconcile(stack: IsolatedStack, merchant: Merchant) -> ReconcileResult:
    client = await Client.connect(stack.settings.temporal_address, data_converter=pydantic_data_converter)
    return await client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(merchant_ids=[merchant.id], settle_seconds=0),
        id=f"reconcile/chaos/{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.temporal_task_queue,
    )
