"""StripeWriteWorkflow: one catalogue or connector write, retried by Temporal with one idempotency key.

Its id comes from the request's Idempotency-Key, so a repeated request finds the same run (and its
result) instead of writing twice; the UI shows it as e.g. "create product 'Gold plan'".
"""

from __future__ import annotations

from temporalio import workflow

from billflow.idempotency import stripe_key
from billflow.policies import STRIPE_WRITE

with workflow.unsafe.imports_passed_through():
    from activities.catalog import CatalogActivities, StripeWriteActivityInput
    from billflow.catalog import StripeWriteInput, StripeWriteResult


@workflow.defn
class StripeWriteWorkflow:
    @workflow.run
    async def run(self, data: StripeWriteInput) -> StripeWriteResult:
        wid = workflow.info().workflow_id
        obj = await workflow.execute_activity_method(
            CatalogActivities.write,
            StripeWriteActivityInput(
                merchant_id=data.merchant_id,
                workflow_id=wid,
                operation=data.operation,
                target_id=data.target_id,
                params=data.params,
                idempotency_key=stripe_key(wid, data.operation),
            ),
            summary=data.summary(),
            **STRIPE_WRITE.kwargs(),
        )
        object_id = obj.get("id")
        return StripeWriteResult(
            operation=data.operation, object_id=str(object_id) if object_id else None, object=obj
        )
