"""Stripe events for one workflow that arrive together travel in one signal.

A signal costs the Temporal server a history write and, for a running worker, a workflow task;
Stripe sends several events per object change at once. While a signal to a workflow is in flight,
further events for it wait and then go together as one `stripe_events` batch; a lone event goes
as a plain `stripe_event`. Nothing waits on a timer: under no load every event is signalled at once.
Each delivery learns the outcome of the signal that carried its event, so the webhook endpoint
still answers Stripe only after its event reached the workflow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billflow.signals import STRIPE_EVENT, STRIPE_EVENTS, StripeEventBatch, StripeEventSignal
from starter.batching import Batcher
from starter.envelope import ApiError

Routed = Literal["routed", "unrouted", "failed"]
Outcome = tuple[Routed, str | None]


class SignalCoalescer:
    def __init__(self, client: Callable[[], Awaitable[Client]], max_batch: int = 100) -> None:
        self._client = client
        self._batches = Batcher[StripeEventSignal, Outcome](self._signal_batch, max_batch)

    async def send(self, workflow_id: str, event: StripeEventSignal) -> Outcome:
        return await self._batches.submit(event, key=workflow_id)

    async def _signal_batch(self, workflow_id: str, events: list[StripeEventSignal]) -> list[Outcome]:
        return [await self._signal(workflow_id, events)] * len(events)

    async def _signal(self, workflow_id: str, events: list[StripeEventSignal]) -> Outcome:
        try:
            handle = (await self._client()).get_workflow_handle(workflow_id)
            if len(events) == 1:
                await handle.signal(STRIPE_EVENT, events[0])
            else:
                await handle.signal(STRIPE_EVENTS, StripeEventBatch(events=events))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return "unrouted", f"workflow {workflow_id} not found or already closed"
            return "failed", f"signal failed: {exc.status.name}: {exc.message}"
        except ApiError as exc:  # no Temporal client could be had
            return "failed", exc.message
        return "routed", None
