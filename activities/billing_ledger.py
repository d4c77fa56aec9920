"""Ledger writes of cards, customers, subscriptions and invoices: sync activities, upserts on natural keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from temporalio import activity

from billflow.ledger import Customer, Invoice, SavedCard, Subscription
from billflow.ledger.db import Ledger, upsert
from billflow.subscriptions import CardView, InvoiceView


class FindCustomerInput(BaseModel):
    merchant_id: str
    user_id: str


class CustomerRecord(BaseModel):
    merchant_id: str
    user_id: str
    stripe_customer_id: str
    email: str | None = None
    name: str | None = None


class SubscriptionRecord(BaseModel):
    id: str
    merchant_id: str
    workflow_id: str
    user_id: str
    stripe_subscription_id: str | None
    stripe_customer_id: str | None
    stripe_price_id: str | None
    status: str
    amount_minor: int | None
    currency: str | None
    current_period_end: datetime | None
    periods_paid: int
    failures: int


class InvoiceRecord(BaseModel):
    merchant_id: str
    workflow_id: str
    invoice: InvoiceView


class RenewalRecord(BaseModel):
    """One write per renewal: the invoice and the subscription row together."""

    subscription: SubscriptionRecord
    invoice: InvoiceRecord | None = None


class CardRecord(BaseModel):
    merchant_id: str
    user_id: str
    stripe_customer_id: str
    fingerprint: str | None
    card: CardView


class UserCardsInput(BaseModel):
    merchant_id: str
    user_id: str


class CardRef(BaseModel):
    merchant_id: str
    card_id: str


def _card_view(row: SavedCard) -> CardView:
    return CardView(
        id=row.id,
        payment_method_id=row.stripe_payment_method_id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
    )


class StoredCard(BaseModel):
    card: CardView
    fingerprint: str | None
    stripe_customer_id: str


class BillingLedger:
    """Upserts of the billing tables; replaying any of them changes nothing."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="billing.find_customer")
    def find_customer(self, data: FindCustomerInput) -> str | None:
        """The Stripe customer of a merchant's user, if billflow created one."""
        with self._ledger.session() as session:
            return session.scalar(
                select(Customer.stripe_customer_id).where(
                    Customer.merchant_id == data.merchant_id, Customer.user_id == data.user_id
                )
            )

    @activity.defn(name="billing.record_customer")
    def record_customer(self, data: CustomerRecord) -> str:
        """Keep the first customer recorded for the user; return the one that won."""
        with self._ledger.session() as session:
            upsert(session, Customer, data.model_dump(), ["merchant_id", "user_id"], update=[])
            winner = session.scalar(
                select(Customer.stripe_customer_id).where(
                    Customer.merchant_id == data.merchant_id, Customer.user_id == data.user_id
                )
            )
        assert winner is not None
        return winner

    @activity.defn(name="billing.user_cards")
    def user_cards(self, data: UserCardsInput) -> list[StoredCard]:
        """The active saved cards of a user."""
        with self._ledger.session() as session:
            rows = session.scalars(
                select(SavedCard)
                .where(
                    SavedCard.merchant_id == data.merchant_id,
                    SavedCard.user_id == data.user_id,
                    SavedCard.active.is_(True),
                )
                .order_by(SavedCard.created_at)
            ).all()
            return [
                StoredCard(
                    card=_card_view(r), fingerprint=r.fingerprint, stripe_customer_id=r.stripe_customer_id
                )
                for r in rows
            ]

    @activity.defn(name="billing.record_card")
    def record_card(self, data: CardRecord) -> None:
        """Insert or refresh a saved card; a default card makes the user's other cards non-default."""
        card = data.card
        values: dict[str, Any] = {
            "id": card.id,
            "merchant_id": data.merchant_id,
            "user_id": data.user_id,
            "stripe_customer_id": data.stripe_customer_id,
            "stripe_payment_method_id": card.payment_method_id,
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": data.fingerprint,
            "is_default": card.is_default,
            "active": True,
        }
        with self._ledger.session() as session:
            if card.is_default:
                session.execute(
                    update(SavedCard)
                    .where(
                        SavedCard.merchant_id == data.merchant_id,
                        SavedCard.user_id == data.user_id,
                        SavedCard.id != card.id,
                    )
                    .values(is_default=False)
                )
            upsert(session, SavedCard, values, ["id"])

    @activity.defn(name="billing.deactivate_card")
    def deactivate_card(self, data: CardRef) -> None:
        """A detached card stays in the ledger, inactive and not default."""
        with self._ledger.session() as session:
            session.execute(
                update(SavedCard)
                .where(SavedCard.merchant_id == data.merchant_id, SavedCard.id == data.card_id)
                .values(active=False, is_default=False)
            )

    @activity.defn(name="billing.record_subscription")
    def record_subscription(self, data: RenewalRecord) -> None:
        """Upsert the subscription row, and the invoice that came with this step if any."""
        with self._ledger.session() as session:
            upsert(session, Subscription, data.subscription.model_dump(), ["id"])
            if data.invoice is not None:
                inv = data.invoice.invoice
                upsert(
                    session,
                    Invoice,
                    {
                        "stripe_invoice_id": inv.id,
                        "merchant_id": data.invoice.merchant_id,
                        "workflow_id": data.invoice.workflow_id,
                        "stripe_customer_id": inv.customer_id,
                        "stripe_subscription_id": inv.subscription_id
                        or data.subscription.stripe_subscription_id,
                        "status": inv.status,
                        "billing_reason": inv.billing_reason,
                        "amount_due_minor": inv.amount_due,
                        "amount_paid_minor": inv.amount_paid,
                        "currency": inv.currency,
                        "period_start": inv.period_start,
                        "period_end": inv.period_end,
                    },
                    ["stripe_invoice_id"],
                )

    def all(self) -> list[Any]:
        return [
            self.find_customer,
            self.record_customer,
            self.user_cards,
            self.record_card,
            self.deactivate_card,
            self.record_subscription,
        ]
