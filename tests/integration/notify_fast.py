"""NotifyMerchantWorkflow with a retry schedule of seconds, for tests (production keeps 3 days)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from billflow.notifications import NOTIFY_WORKFLOW, MerchantEvent, NotifyState
from billflow.policies import MERCHANT_NOTIFY, ActivityOptions
from workflows.common import notify
from workflows.notify import NotifyMerchantWorkflow

FAST_NOTIFY = ActivityOptions(
    start_to_close=timedelta(seconds=5),
    schedule_to_close=timedelta(seconds=20),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=100),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(milliseconds=400),
        non_retryable_error_types=MERCHANT_NOTIFY.retry.non_retryable_error_types,
    ),
)


@workflow.defn(name=NOTIFY_WORKFLOW)
class FastNotifyMerchantWorkflow(NotifyMerchantWorkflow):
    delivery: ClassVar[ActivityOptions] = FAST_NOTIFY

    @workflow.run
    async def run(self, event: MerchantEvent) -> NotifyState:
        return await super().run(event)


@workflow.defn(name=NOTIFY_WORKFLOW)
class GiveUpFastNotifyMerchantWorkflow(NotifyMerchantWorkflow):
    """Gives up after about a second, to test the 'failed' outcome without waiting 3 days."""

    delivery: ClassVar[ActivityOptions] = ActivityOptions(
        start_to_close=timedelta(seconds=1), schedule_to_close=timedelta(seconds=1.5), retry=FAST_NOTIFY.retry
    )

    @workflow.run
    async def run(self, event: MerchantEvent) -> NotifyState:
        return await super().run(event)


@workflow.defn
class NotifyingFlow:
    """A stand-in for a billing flow: notifies the merchant through workflows.common.notify, twice."""

    @workflow.run
    async def run(self, event: MerchantEvent) -> None:
        await notify(event)
        await notify(event)  # a replayed step: the child id makes it a no-op
