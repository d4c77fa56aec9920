"""An in-memory Stripe for QuoteWorkflow tests (no tests here): activities under the real names, fake children."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from workflows.subscription import SubscriptionInput

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceSnapshot, InvoiceStepInput
    from activities.quotes import (
        CreateQuoteInput,
        QuoteCustomerInput,
        QuoteSettings,
        QuoteSettingsInput,
        QuoteSnapshot,
        QuoteStepInput,
    )
    from activities.quotes_ledger import InvoiceRecord, QuoteRecord
    from billflow.notifications import MerchantEvent


@workflow.defn(name="NotifyMerchantWorkflow")
class FakeNotifyWorkflow:
    """Stands in for the API branch's notifier: its result is the event, read back by the test."""

    @workflow.run
    async def run(self, event: MerchantEvent) -> MerchantEvent:
        return event


@workflow.defn(name="SubscriptionWorkflow")
class FakeSubscriptionWorkflow:
    """Stands in for the subscriptions branch's workflow: returns what it was handed."""

    @workflow.run
    async def run(self, data: SubscriptionInput) -> SubscriptionInput:
        return data


@dataclass
class FakeStripe:
    """Quote and invoice state, with knobs for the scenarios."""

    auto_approve_below_minor: int | None = None
    decline_payment: bool = False
    create_failures: int = 0
    invoice_finalize_failures: int = 0
    invoice_paid_on_retrieve: bool = False
    quotes: dict[str, QuoteSnapshot] = field(default_factory=dict)
    invoices: dict[str, InvoiceSnapshot] = field(default_factory=dict)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    quote_rows: list[QuoteRecord] = field(default_factory=list)
    invoice_rows: list[InvoiceRecord] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        fake = self

        @activity.defn(name="quotes.settings")
        async def settings(data: QuoteSettingsInput) -> QuoteSettings:
            return QuoteSettings(auto_approve_below_minor=fake.auto_approve_below_minor)

        @activity.defn(name="quotes.customer")
        async def customer(data: QuoteCustomerInput) -> str:
            fake.calls.append(("quotes.customer", data.idempotency_key))
            return f"cus_{data.user_id}"

        @activity.defn(name="quotes.create")
        async def create(data: CreateQuoteInput) -> QuoteSnapshot:
            fake.calls.append(("quotes.create", data.idempotency_key))
            if fake.create_failures > 0:
                fake.create_failures -= 1
                raise ApplicationError("Stripe answered 500", type="StripeUnavailable")
            total = 0
            recurring = False
            for line in data.line_items:
                assert line.price_data is not None, "fakes take price_data lines only"
                total += line.price_data.unit_amount_minor * line.quantity
                recurring = recurring or line.price_data.recurring is not None
            quote = QuoteSnapshot(
                id=f"qt_{len(fake.quotes) + 1}",
                status="draft",
                customer_id=data.customer_id,
                amount_total_minor=total,
                currency=data.line_items[0].price_data.currency if data.line_items[0].price_data else None,
                expires_at=data.expires_at,
                has_recurring=recurring,
            )
            fake.quotes[quote.id] = quote
            return quote

        def step(name: str, data: QuoteStepInput) -> QuoteSnapshot:
            fake.calls.append((name, data.idempotency_key))
            return fake.quotes[data.quote_id]

        @activity.defn(name="quotes.retrieve")
        async def retrieve(data: QuoteStepInput) -> QuoteSnapshot:
            return step("quotes.retrieve", data)

        @activity.defn(name="quotes.finalize")
        async def finalize(data: QuoteStepInput) -> QuoteSnapshot:
            quote = step("quotes.finalize", data)
            quote.status, quote.number = "open", "QT-0001"
            quote.pdf_url = f"https://files.example/{quote.id}.pdf"
            return quote

        @activity.defn(name="quotes.accept")
        async def accept(data: QuoteStepInput) -> QuoteSnapshot:
            quote = step("quotes.accept", data)
            assert quote.status == "open"
            quote.status = "accepted"
            if quote.has_recurring:
                quote.subscription_id, quote.subscription_price_id = "sub_1", "price_gold"
            else:
                quote.invoice_id = "in_1"
                fake.invoices["in_1"] = InvoiceSnapshot(
                    id="in_1",
                    status="draft",
                    customer_id=quote.customer_id,
                    amount_due_minor=quote.amount_total_minor,
                    amount_paid_minor=0,
                    currency=quote.currency or "usd",
                    billing_reason="quote_accept",
                    quote_id=quote.id,
                )
            return quote

        @activity.defn(name="quotes.cancel")
        async def cancel(data: QuoteStepInput) -> QuoteSnapshot:
            quote = step("quotes.cancel", data)
            assert quote.status in ("draft", "open")
            quote.status = "canceled"
            return quote

        def invoice(name: str, data: InvoiceStepInput) -> InvoiceSnapshot:
            fake.calls.append((name, data.idempotency_key))
            return fake.invoices[data.invoice_id]

        @activity.defn(name="invoices.finalize")
        async def inv_finalize(data: InvoiceStepInput) -> InvoiceSnapshot:
            inv = invoice("invoices.finalize", data)
            if fake.invoice_finalize_failures > 0:
                fake.invoice_finalize_failures -= 1
                raise ApplicationError("Stripe answered 409 lock_timeout", type="StripeUnavailable")
            inv.status, inv.hosted_invoice_url = "open", "https://invoice.example/in_1"
            return inv

        @activity.defn(name="invoices.pay")
        async def inv_pay(data: InvoiceStepInput) -> InvoiceSnapshot:
            inv = invoice("invoices.pay", data)
            if fake.decline_payment:
                raise ApplicationError(
                    "CardDeclined: insufficient funds", type="CardDeclined", non_retryable=True
                )
            inv.status, inv.amount_paid_minor = "paid", inv.amount_due_minor
            return inv

        @activity.defn(name="invoices.send")
        async def inv_send(data: InvoiceStepInput) -> InvoiceSnapshot:
            return invoice("invoices.send", data)

        @activity.defn(name="invoices.retrieve")
        async def inv_retrieve(data: InvoiceStepInput) -> InvoiceSnapshot:
            inv = invoice("invoices.retrieve", data)
            if fake.invoice_paid_on_retrieve:
                inv.status, inv.amount_paid_minor = "paid", inv.amount_due_minor
            return inv

        @activity.defn(name="invoices.mark_uncollectible")
        async def inv_uncollectible(data: InvoiceStepInput) -> InvoiceSnapshot:
            inv = invoice("invoices.mark_uncollectible", data)
            assert inv.status == "open"
            inv.status = "uncollectible"
            return inv

        @activity.defn(name="invoices.void")
        async def inv_void(data: InvoiceStepInput) -> InvoiceSnapshot:
            inv = invoice("invoices.void", data)
            inv.status = "void"
            return inv

        @activity.defn(name="quotes.record")
        async def record_quote(data: QuoteRecord) -> None:
            fake.quote_rows.append(data)

        @activity.defn(name="invoices.record")
        async def record_invoice(data: InvoiceRecord) -> None:
            fake.invoice_rows.append(data)

        return [
            settings,
            customer,
            create,
            retrieve,
            finalize,
            accept,
            cancel,
            inv_finalize,
            inv_pay,
            inv_send,
            inv_retrieve,
            inv_uncollectible,
            inv_void,
            record_quote,
            record_invoice,
        ]

    def called(self, name: str) -> list[str | None]:
        return [key for call, key in self.calls if call == name]


DAY = timedelta(days=1)
