"""The ledger: every table billflow keeps, importable from one place."""

from billflow.ledger.base import Base, utcnow
from billflow.ledger.billing import Invoice, Quote, Subscription
from billflow.ledger.customers import Customer, SavedCard
from billflow.ledger.events import Notification, NotificationAttempt, WebhookEvent
from billflow.ledger.limits import StripeRateSlot
from billflow.ledger.merchants import ApiKey, IdempotentRequest, Merchant
from billflow.ledger.payments import Payment, Refund
from billflow.ledger.reconciliation import ReconciliationDifference

__all__ = [
    "ApiKey",
    "Base",
    "Customer",
    "IdempotentRequest",
    "Invoice",
    "Merchant",
    "Notification",
    "NotificationAttempt",
    "Payment",
    "Quote",
    "ReconciliationDifference",
    "Refund",
    "SavedCard",
    "StripeRateSlot",
    "Subscription",
    "WebhookEvent",
    "utcnow",
]
