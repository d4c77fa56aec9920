"""Helpers every flow uses: search attributes, readable waits, merchant notifications."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

from billflow import search_attributes as sa
from billflow.notifications import NOTIFY_WORKFLOW, MerchantEvent, notify_workflow_id
from billflow.signals import APPROVE, REJECT, STRIPE_EVENTS, Decision, StripeEventBatch, StripeEventSignal


def start_attributes(
    flow: str,
    status: str,
    merchant_id: str,
    *,
    customer_id: str | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
) -> TypedSearchAttributes:
    """The search attributes a flow is started with (the starter sets them)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.BILLING_FLOW, flow),
        SearchAttributePair(sa.BILLING_STATUS, status),
        SearchAttributePair(sa.MERCHANT_ID, merchant_id),
    ]
    if customer_id:
        pairs.append(SearchAttributePair(sa.CUSTOMER_ID, customer_id))
    if amount_minor is not None:
        pairs.append(SearchAttributePair(sa.AMOUNT_MINOR, amount_minor))
    if currency:
        pairs.append(SearchAttributePair(sa.CURRENCY, currency.upper()))
    return TypedSearchAttributes(pairs)


def static_details(*facts: tuple[str, object | None]) -> str:
    """A run's key facts as the markdown list the UI shows under its summary; unknown facts are left out.

    Keep emails and names out: every operator reads these, and only the payload codec (off unless
    BILLFLOW_PAYLOAD_KEY is set) keeps them out of plain history, as it does for payloads.
    """
    return "\n".join(f"- **{label}**: {value}" for label, value in facts if value not in (None, ""))


# Operators search one word for "a person must act", whatever each API calls that state.
OPERATOR_STATUS = {"requires_approval": "awaiting_approval"}


def set_status(
    status: str,
    *,
    customer_id: str | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
) -> None:
    """Upsert BillingStatus (and any newly known facts) so operators can filter on it.

    Every flow waiting for a manager shows `BillingStatus="awaiting_approval"`.
    """
    shown = OPERATOR_STATUS.get(status, status)
    updates: list[SearchAttributeUpdate[Any]] = [sa.BILLING_STATUS.value_set(shown)]
    if customer_id:
        updates.append(sa.CUSTOMER_ID.value_set(customer_id))
    if amount_minor is not None:
        updates.append(sa.AMOUNT_MINOR.value_set(amount_minor))
    if currency:
        updates.append(sa.CURRENCY.value_set(currency.upper()))
    workflow.upsert_search_attributes(updates)


# What the current details offer for the Send Signal dialog; every payload parses as the signal's model.
EXAMPLE_DECISION: dict[str, Any] = {"by": "ops@example.com", "reason": "..."}


def recheck_example(object_type: str, object_id: str) -> dict[str, Any]:
    """A `stripe_event` payload an operator sends to make the run re-read `object_id` from Stripe now
    (the run trusts no event content, so this is as good as a webhook)."""
    return {
        "event_id": "evt_operator",
        "type": "operator.recheck",
        "object_type": object_type,
        "object_id": object_id,
    }


def set_waiting(
    what: str,
    until: datetime | None,
    signal: str | None = None,
    example: dict[str, Any] | None = None,
    *,
    also: Mapping[str, dict[str, Any] | None] | None = None,
) -> None:
    """Describe the current wait in the UI: what, since and until when, which signals end or steer it,
    each with the JSON to paste into the Send Signal dialog."""
    lines = [f"**Waiting for** {what}", f"since {workflow.now():%Y-%m-%d %H:%M:%S} UTC"]
    if until is not None:
        lines.append(f"until {until:%Y-%m-%d %H:%M:%S} UTC")
    offers = ([(signal, example)] if signal else []) + list((also or {}).items())
    for i, (name, payload) in enumerate(offers):
        lead = "send signal" if i == 0 else "or signal"
        lines.append(f"{lead} `{name}`" + (f" with `{json.dumps(payload)}`" if payload else ""))
    workflow.set_current_details("\n\n".join(lines))


def clear_waiting() -> None:
    workflow.set_current_details("")


def deadline(after: timedelta) -> datetime:
    return workflow.now() + after


def notify_details(event: MerchantEvent, redelivery: bool = False) -> str:
    return static_details(
        ("Event", event.event_id),
        ("Type", event.type),
        ("Merchant", event.merchant_id),
        ("Delivery", "redelivery asked for by the merchant" if redelivery else "first delivery"),
        ("Retries", "exponential back-off for up to 3 days; never sent again once a 2xx is recorded"),
    )


async def notify(event: MerchantEvent) -> None:
    """Start the merchant notification as an abandoned child: it outlives this run and is unique per event."""
    try:
        await workflow.start_child_workflow(
            NOTIFY_WORKFLOW,
            event,
            id=notify_workflow_id(event.merchant_id, event.event_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"Notify {event.merchant_id}: {event.type}",
            static_details=notify_details(event),
        )
    except WorkflowAlreadyStartedError:
        pass  # already notified by an earlier run of this flow (continue-as-new, reset)


class ManagerDecision:
    """The `approve` / `reject` signals of every flow that waits for a manager.

    The first decision wins; later ones are ignored, so a double click in the UI changes nothing.
    Flows read `self._decision` as `(APPROVE | REJECT, Decision)` once it is set.
    """

    _decision: tuple[str, Decision] | None = None

    @workflow.signal(name=APPROVE)
    def approve(self, decision: Decision) -> None:
        if self._decision is None:
            self._decision = (APPROVE, decision)

    @workflow.signal(name=REJECT)
    def reject(self, decision: Decision) -> None:
        if self._decision is None:
            self._decision = (REJECT, decision)


class StripeEventBatches:
    """The `stripe_events` signal: a batch of webhook events, applied one by one to `stripe_event`."""

    def stripe_event(self, event: StripeEventSignal) -> None:
        raise NotImplementedError  # every flow defines its own `stripe_event` signal handler

    @workflow.signal(name=STRIPE_EVENTS)
    def stripe_events(self, batch: StripeEventBatch) -> None:
        for event in batch.events:
            self.stripe_event(event)
