"""A tiny workflow that collects `stripe_event` signals until told how many to expect."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from billflow.signals import STRIPE_EVENT, StripeEventSignal
from workflows.common import StripeEventBatches


@workflow.defn
class WaitForStripeEvents(StripeEventBatches):
    def __init__(self) -> None:
        self.events: list[StripeEventSignal] = []

    @workflow.run
    async def run(self, expected: int) -> list[StripeEventSignal]:
        await workflow.wait_condition(lambda: len(self.events) >= expected, timeout=timedelta(minutes=5))
        # Linger briefly so a wrongly re-applied duplicate would still be counted.
        await workflow.sleep(timedelta(seconds=1))
        return self.events

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        self.events.append(event)

    @workflow.query
    def received(self) -> list[StripeEventSignal]:
        return self.events
