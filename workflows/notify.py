"""NotifyMerchantWorkflow: one event, POSTed signed to the merchant until it answers 2xx (up to 3 days).

Started by every flow through `workflows.common.notify` with id `notify/{merchant}/{event}`, so an
event is notified once. A run under any other id is a redelivery the merchant asked for: it sends
again even if the event was delivered before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

from billflow import search_attributes as sa
from billflow.notifications import NOTIFY_WORKFLOW, MerchantEvent, NotifyState, notify_workflow_id
from billflow.policies import LEDGER_WRITE, MERCHANT_NOTIFY, ActivityOptions
from workflows.common import clear_waiting, set_status, set_waiting

with workflow.unsafe.imports_passed_through():
    from activities.notify import (
        DeliverNotificationInput,
        FinishNotificationInput,
        NotifyActivities,
        PrepareNotificationInput,
    )


@workflow.defn(name=NOTIFY_WORKFLOW)
class NotifyMerchantWorkflow:
    # Production uses MERCHANT_NOTIFY (3 days); a stack's settings may shorten its retry intervals
    # (handed over by the prepare activity), and tests swap in a whole schedule by subclassing.
    delivery: ClassVar[ActivityOptions] = MERCHANT_NOTIFY

    def __init__(self) -> None:
        self._state: NotifyState | None = None

    @workflow.run
    async def run(self, event: MerchantEvent) -> NotifyState:
        redelivery = workflow.info().workflow_id != notify_workflow_id(event.merchant_id, event.event_id)
        state = self._state = NotifyState(event_id=event.event_id, status="pending", redelivery=redelivery)
        workflow.upsert_search_attributes(
            [sa.BILLING_FLOW.value_set("notify"), sa.MERCHANT_ID.value_set(event.merchant_id)]
        )
        set_status("pending")
        plan = await workflow.execute_activity_method(
            NotifyActivities.prepare,
            PrepareNotificationInput(
                event_id=event.event_id, merchant_id=event.merchant_id, type=event.type, data=event.data
            ),
            summary=f"record {event.type}",
            **LEDGER_WRITE.kwargs(),
        )
        if not plan.deliver:
            return self._done("skipped")
        if plan.status == "delivered" and not redelivery:
            return self._done("already_delivered")
        state.status = "delivering"
        set_status("delivering")
        delivery = self.delivery.with_retry_intervals(plan.retry_initial_seconds, plan.retry_max_seconds)
        until = workflow.now() + (delivery.schedule_to_close or timedelta(0))
        set_waiting(f"a 2xx from {plan.url} (retrying with back-off)", until)
        try:
            result = await workflow.execute_activity_method(
                NotifyActivities.deliver,
                DeliverNotificationInput(
                    event_id=event.event_id,
                    merchant_id=event.merchant_id,
                    resend_after=workflow.info().start_time if redelivery else None,
                ),
                summary=f"POST {event.type} to {plan.url}",
                **delivery.kwargs(),
            )
        except ActivityError:
            await workflow.execute_activity_method(
                NotifyActivities.finish,
                FinishNotificationInput(event_id=event.event_id, status="failed"),
                summary="give up",
                **LEDGER_WRITE.kwargs(),
            )
            return self._done("failed")
        state.status_code = result.status_code
        return self._done(result.outcome)

    def _done(self, status: str) -> NotifyState:
        assert self._state is not None
        self._state.status = status
        clear_waiting()
        set_status(status)
        return self._state

    @workflow.query(name="state")
    def state(self) -> NotifyState | None:
        return self._state
