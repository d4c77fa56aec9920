"""Events for one workflow that arrive while its signal is in flight go together in the next one."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from billflow.signals import STRIPE_EVENT, STRIPE_EVENTS, StripeEventBatch, StripeEventSignal
from starter.envelope import ApiError
from starter.signal_coalescer import SignalCoalescer


class FakeHandle:
    def __init__(self, client: FakeClient, wid: str) -> None:
        self.client, self.wid = client, wid

    async def signal(self, name: str, arg: Any) -> None:
        self.client.sent.append((self.wid, name, arg))
        await self.client.gate.wait()
        if self.wid in self.client.missing:
            raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.gate = asyncio.Event()
        self.missing: set[str] = set()

    def get_workflow_handle(self, wid: str) -> FakeHandle:
        return FakeHandle(self, wid)


def ev(n: int) -> StripeEventSignal:
    return StripeEventSignal(event_id=f"evt_{n}", type="t", object_type="payment_intent", object_id="pi_1")


async def test_a_burst_for_one_workflow_becomes_one_signal_after_the_first() -> None:
    fake = FakeClient()

    async def client() -> Any:
        return fake

    coalescer = SignalCoalescer(client)
    first = asyncio.create_task(coalescer.send("wf-a", ev(0)))
    await asyncio.sleep(0.01)  # the first signal is in flight now
    rest = [asyncio.create_task(coalescer.send("wf-a", ev(n))) for n in (1, 2, 3)]
    other = asyncio.create_task(coalescer.send("wf-b", ev(9)))  # other workflows never wait on wf-a
    await asyncio.sleep(0.01)
    assert [(w, name) for w, name, _ in fake.sent] == [("wf-a", STRIPE_EVENT), ("wf-b", STRIPE_EVENT)]
    fake.gate.set()
    assert await asyncio.gather(first, *rest, other) == [("routed", None)] * 5
    assert fake.sent[0][2] == ev(0)
    wid, name, batch = fake.sent[2]
    assert (wid, name) == ("wf-a", STRIPE_EVENTS)
    assert batch == StripeEventBatch(events=[ev(1), ev(2), ev(3)])


async def test_every_event_in_a_batch_learns_its_outcome() -> None:
    fake = FakeClient()
    fake.missing.add("gone")
    fake.gate.set()

    async def client() -> Any:
        return fake

    coalescer = SignalCoalescer(client)
    outcomes = await asyncio.gather(*(coalescer.send("gone", ev(n)) for n in range(3)))
    assert {status for status, _ in outcomes} == {"unrouted"}

    async def down() -> Any:
        raise ApiError(503, "temporal_unavailable", "cannot reach Temporal")

    failed = await SignalCoalescer(down).send("wf", ev(1))
    assert failed == ("failed", "cannot reach Temporal")


def test_every_flow_that_takes_stripe_events_takes_batches_too() -> None:
    from temporalio.workflow import _Definition

    from workflows.registry import WORKFLOWS

    takers = []
    for flow in WORKFLOWS:
        signals = _Definition.must_from_class(flow).signals
        if STRIPE_EVENT in signals:
            takers.append(flow.__name__)
            assert STRIPE_EVENTS in signals, f"{flow.__name__} would drop batched webhook events"
    assert {"PaymentWorkflow", "SubscriptionWorkflow", "QuoteWorkflow"} <= set(takers)


def test_a_batch_is_applied_event_by_event_in_order() -> None:
    from workflows.common import StripeEventBatches

    class Recorder(StripeEventBatches):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def stripe_event(self, event: StripeEventSignal) -> None:
            self.seen.append(event.event_id)

    recorder = Recorder()
    recorder.stripe_events(StripeEventBatch(events=[ev(3), ev(1), ev(2)]))
    assert recorder.seen == ["evt_3", "evt_1", "evt_2"]
