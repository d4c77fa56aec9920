"""The one list of workflows the worker registers."""

from __future__ import annotations

from workflows.hello import HelloWorkflow
from workflows.notify import NotifyMerchantWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.refund import RefundWorkflow

WORKFLOWS: list[type] = [
    HelloWorkflow,
    NotifyMerchantWorkflow,
    ReconcileWorkflow,
    PaymentWorkflow,
    RefundWorkflow,
]
