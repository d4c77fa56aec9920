"""The one list of workflows the worker registers."""

from __future__ import annotations

from workflows.hello import HelloWorkflow
from workflows.notify import NotifyMerchantWorkflow
from workflows.payment import PaymentWorkflow
from workflows.quote import QuoteWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.refund import RefundWorkflow
from workflows.stripe_write import StripeWriteWorkflow
from workflows.subscription import SubscriptionWorkflow

WORKFLOWS: list[type] = [
    HelloWorkflow,
    NotifyMerchantWorkflow,
    ReconcileWorkflow,
    PaymentWorkflow,
    RefundWorkflow,
    QuoteWorkflow,
    StripeWriteWorkflow,
    SubscriptionWorkflow,
]
