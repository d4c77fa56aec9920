"""The one list of workflows the worker registers."""

from __future__ import annotations

from workflows.hello import HelloWorkflow
from workflows.notify import NotifyMerchantWorkflow
from workflows.save_card import CardCommandWorkflow, SaveCardWorkflow
from workflows.subscription import SubscriptionWorkflow

WORKFLOWS: list[type] = [
    HelloWorkflow,
    NotifyMerchantWorkflow,
    SubscriptionWorkflow,
    SaveCardWorkflow,
    CardCommandWorkflow,
]
