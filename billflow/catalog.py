"""Stripe catalogue and connector writes, by name: each operation's validated parameters and summary.

Every write goes through `StripeWriteWorkflow` as `StripeWriteInput(operation=..., target_id=...,
params=...)`; the activity (`activities/catalog.py`) maps the name to one async SDK call. The API and
the CLI validate `params` with the same models before starting anything, so a bad request is a 4xx
and never a failed workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STRIPE_WRITE_FLOW = "stripe_write"

Metadata = dict[str, str]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_stripe(self) -> dict[str, Any]:
        """Stripe's parameter names; unset fields are left out."""
        return self.model_dump(exclude_none=True)


class Empty(_Params):
    """An operation that takes no parameters besides its target id."""


class CustomerCreate(_Params):
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    default_payment_method: str | None = Field(default=None, description="invoices charge this card")
    metadata: Metadata | None = None

    def to_stripe(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True, exclude={"default_payment_method"})
        if self.default_payment_method is not None:
            out["invoice_settings"] = {"default_payment_method": self.default_payment_method}
        return out


class CustomerUpdate(CustomerCreate):
    @model_validator(mode="after")
    def _something(self) -> CustomerUpdate:
        if not self.model_dump(exclude_none=True):
            raise ValueError("give at least one field to change")
        return self


class ProductCreate(_Params):
    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(default=None, max_length=1000)
    active: bool | None = None
    metadata: Metadata | None = None


class Recurring(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: Literal["day", "week", "month", "year"]
    interval_count: int = Field(default=1, ge=1, le=365)


class PriceCreate(_Params):
    """A one-time price; `unit_amount_minor` in the currency's minor unit."""

    product: str = Field(min_length=1)
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")
    unit_amount_minor: int = Field(gt=0, le=99_999_999)
    nickname: str | None = Field(default=None, max_length=200)
    metadata: Metadata | None = None

    def to_stripe(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True, exclude={"unit_amount_minor"})
        out["unit_amount"] = self.unit_amount_minor
        out["currency"] = self.currency.lower()
        return out


class RecurringPriceCreate(PriceCreate):
    recurring: Recurring


class LinkLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: str = Field(min_length=1)
    quantity: int = Field(default=1, ge=1, le=1000)


class PaymentLinkCreate(_Params):
    line_items: list[LinkLine] = Field(min_length=1, max_length=20)
    metadata: Metadata | None = None


class RefundCreate(_Params):
    """A refund of a charge or of a payment intent; the whole remainder unless `amount_minor`."""

    charge: str | None = None
    payment_intent: str | None = None
    amount_minor: int | None = Field(default=None, gt=0)
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RefundCreate:
        if (self.charge is None) == (self.payment_intent is None):
            raise ValueError("give exactly one of charge or payment_intent")
        return self

    def to_stripe(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True, exclude={"amount_minor"})
        if self.amount_minor is not None:
            out["amount"] = self.amount_minor
        return out


class PaymentIntentConfirm(_Params):
    payment_method: str | None = None
    off_session: bool | None = None
    return_url: str | None = None


class PaymentIntentCapture(_Params):
    amount_to_capture_minor: int | None = Field(default=None, gt=0)

    def to_stripe(self) -> dict[str, Any]:
        if self.amount_to_capture_minor is None:
            return {}
        return {"amount_to_capture": self.amount_to_capture_minor}


class PaymentIntentCancel(_Params):
    cancellation_reason: Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"] | None = (
        None
    )


class PaymentMethodAttach(_Params):
    customer: str = Field(min_length=1)


@dataclass(frozen=True)
class Operation:
    """One write: its parameters, whether it acts on an existing object, how a person reads it."""

    params: type[_Params]
    target: str | None  # the kind of id it acts on ("customer"), None for creates
    verb: str
    tags_metadata: bool = False  # a create that carries metadata[workflow_id]

    def describe(self, target_id: str | None, params: dict[str, Any]) -> str:
        label = params.get("name") or params.get("email") or params.get("nickname")
        what = f" '{label}'" if label else ""
        on = f" {target_id}" if target_id else ""
        return f"{self.verb}{what}{on}"


OPERATIONS: dict[str, Operation] = {
    "customers.create": Operation(CustomerCreate, None, "create customer", tags_metadata=True),
    "customers.update": Operation(CustomerUpdate, "customer", "update customer"),
    "customers.delete": Operation(Empty, "customer", "delete customer"),
    "products.create": Operation(ProductCreate, None, "create product", tags_metadata=True),
    "products.delete": Operation(Empty, "product", "delete product"),
    "prices.create_one_time": Operation(PriceCreate, None, "create one-time price", tags_metadata=True),
    "prices.create_recurring": Operation(
        RecurringPriceCreate, None, "create recurring price", tags_metadata=True
    ),
    "payment_links.create": Operation(PaymentLinkCreate, None, "create payment link", tags_metadata=True),
    "refunds.create": Operation(RefundCreate, None, "refund", tags_metadata=True),
    "payment_intents.confirm": Operation(PaymentIntentConfirm, "payment_intent", "confirm"),
    "payment_intents.capture": Operation(PaymentIntentCapture, "payment_intent", "capture"),
    "payment_intents.cancel": Operation(PaymentIntentCancel, "payment_intent", "cancel"),
    "payment_methods.attach": Operation(PaymentMethodAttach, "payment_method", "attach"),
    "payment_methods.detach": Operation(Empty, "payment_method", "detach"),
    "invoices.finalize": Operation(Empty, "invoice", "finalize invoice"),
    "invoices.pay": Operation(Empty, "invoice", "pay invoice"),
    "invoices.void": Operation(Empty, "invoice", "void invoice"),
}


class StripeWriteInput(BaseModel):
    """One catalogue/connector write for a merchant; `params` are the operation's validated params."""

    merchant_id: str
    operation: str
    target_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> StripeWriteInput:
        op = OPERATIONS.get(self.operation)
        if op is None:
            raise ValueError(f"unknown operation {self.operation!r}")
        if (op.target is None) != (self.target_id is None):
            raise ValueError(f"{self.operation} {'needs' if op.target else 'takes no'} target id")
        return self

    def summary(self) -> str:
        return OPERATIONS[self.operation].describe(self.target_id, self.params)


class StripeWriteResult(BaseModel):
    """The written Stripe object; `status` "running" when the write had not finished in the wait."""

    operation: str
    object_id: str | None
    object: dict[str, Any] = Field(default_factory=dict)
    status: Literal["succeeded", "running"] = "succeeded"
    workflow_id: str | None = None


def validate_params(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate `params` for `operation` (raises pydantic's ValidationError) and return them as JSON."""
    return OPERATIONS[operation].params.model_validate(params).model_dump(mode="json", exclude_none=True)
