"""Subscriptions: start one (Idempotency-Key), list, read, and steer it (cancel, pause, resume, change plan, card)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from temporalio.service import RPCError

from billflow.ledger import Customer, SavedCard, Subscription
from billflow.ledger.db import Ledger
from billflow.merchants import AuthedMerchant
from billflow.money import MoneyError, from_minor, to_minor
from billflow.signals import CANCEL, Decision
from billflow.subscriptions import (
    CHANGE_PLAN,
    PAUSE,
    RESUME,
    UPDATE_CARD,
    CancelRequest,
    ChangePlan,
    Interval,
    Plan,
    Proration,
    SubscriptionInput,
    SubscriptionState,
    UpdateCard,
)
from starter.deps import (
    IdempotencyKeyDep,
    LedgerDep,
    SettingsDep,
    StateDep,
    idempotent_request_async,
    require_scope,
)
from starter.envelope import ApiError, Envelope, ErrorEnvelope, ok
from starter.subscriptions import settled_state, start_subscription, steer, subscription_state

router = APIRouter(
    prefix="/v1/subscriptions",
    tags=["subscriptions"],
    responses={503: {"model": ErrorEnvelope, "description": "Temporal unreachable: nothing was started"}},
)
Writer = Annotated[AuthedMerchant, require_scope("subscriptions:write")]
Reader = Annotated[AuthedMerchant, require_scope("payments:read")]


class SubscriptionIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=200)
    price_id: str | None = Field(default=None, pattern=r"^price_\w+$")
    amount: Decimal | None = Field(
        default=None, gt=0, description="Per period, in the currency's major unit."
    )
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    interval: Interval = "month"
    interval_count: int = Field(default=1, ge=1, le=36)
    saved_card_id: str | None = None
    trial_days: int | None = Field(default=None, ge=1, le=730)
    retry_schedule_days: list[float] | None = Field(default=None, max_length=10)


class SubscriptionOut(BaseModel):
    id: str
    workflow_id: str
    status: str
    user_id: str
    stripe_subscription_id: str | None
    price_id: str | None
    amount: Decimal | None
    currency: str | None
    current_period_end: datetime | None
    periods_paid: int
    failures: int
    state: SubscriptionState | None = None


class CancelIn(BaseModel):
    at_period_end: bool = False
    reason: str = Field(default="", max_length=2000)
    by: str = "api"


class ChangePlanIn(BaseModel):
    price_id: str | None = Field(default=None, pattern=r"^price_\w+$")
    amount: Decimal | None = Field(default=None, gt=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    interval: Interval = "month"
    interval_count: int = Field(default=1, ge=1, le=36)
    proration_behavior: Proration = "create_prorations"


class UpdateCardIn(BaseModel):
    saved_card_id: str


def _minor(amount: Decimal | None, currency: str | None) -> int | None:
    """Amount in minor units, or a 422 naming the field for an unknown currency or too many decimals."""
    if amount is None or currency is None:
        return None
    try:
        return to_minor(amount, currency)
    except MoneyError as exc:
        field = "currency" if "currency" in str(exc) else "amount"
        raise ApiError(422, "invalid_request", str(exc), field) from exc


def _out(row: Subscription, state: SubscriptionState | None = None) -> SubscriptionOut:
    amount = (
        from_minor(row.amount_minor, row.currency) if row.amount_minor is not None and row.currency else None
    )
    return SubscriptionOut(
        id=row.id,
        workflow_id=row.workflow_id,
        status=state.status if state else row.status,
        user_id=row.user_id,
        stripe_subscription_id=row.stripe_subscription_id,
        price_id=row.stripe_price_id,
        amount=amount,
        currency=row.currency,
        current_period_end=row.current_period_end,
        periods_paid=row.periods_paid,
        failures=row.failures,
        state=state,
    )


def _resolve(ledger: Ledger, merchant_id: str, body: SubscriptionIn) -> tuple[str, str | None]:
    """The user's Stripe customer and the chosen card's payment method."""
    with ledger.session() as session:
        customer = session.scalar(
            select(Customer.stripe_customer_id).where(
                Customer.merchant_id == merchant_id, Customer.user_id == body.user_id
            )
        )
        if customer is None:
            raise ApiError(409, "no_customer", "this user has no saved card yet: save one first", "user_id")
        pm: str | None = None
        if body.saved_card_id:
            pm = session.scalar(
                select(SavedCard.stripe_payment_method_id).where(
                    SavedCard.merchant_id == merchant_id,
                    SavedCard.id == body.saved_card_id,
                    SavedCard.user_id == body.user_id,
                    SavedCard.active.is_(True),
                )
            )
            if pm is None:
                raise ApiError(
                    404, "not_found", f"no saved card {body.saved_card_id} for this user", "saved_card_id"
                )
    return customer, pm


@router.post("", status_code=201)
async def create_subscription(
    body: SubscriptionIn,
    merchant: Writer,
    ledger: LedgerDep,
    state: StateDep,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
) -> Envelope[SubscriptionState]:
    """Start a subscription; the answer shows whether the first invoice was paid (`active`) or not (`incomplete`)."""
    if body.price_id is None and (body.amount is None or body.currency is None):
        raise ApiError(422, "invalid_request", "give price_id, or amount and currency", "price_id")
    amount_minor = _minor(body.amount, body.currency)
    customer, pm = await run_in_threadpool(_resolve, ledger, merchant.merchant_id, body)
    wid = await idempotent_request_async(ledger, merchant.merchant_id, "subscription", key, body)
    client = await state.temporal()  # only now: a refused request never needs Temporal
    extra: dict[str, Any] = {}
    if body.retry_schedule_days is not None:
        extra["retry_schedule_days"] = body.retry_schedule_days
    data = SubscriptionInput(
        merchant_id=merchant.merchant_id,
        user_id=body.user_id,
        stripe_customer_id=customer,
        price_id=body.price_id,
        amount_minor=amount_minor,
        currency=body.currency.lower() if body.currency else None,
        interval=body.interval,
        interval_count=body.interval_count,
        payment_method_id=pm,
        trial_days=body.trial_days,
        **extra,
    )
    await start_subscription(client, data, wid, settings.temporal_task_queue)
    return ok(await settled_state(client, wid))


def _rows(ledger: Ledger, merchant_id: str, user_id: str | None, sub_id: str | None) -> list[Subscription]:
    with ledger.session() as session:
        query = select(Subscription).where(Subscription.merchant_id == merchant_id)
        if user_id:
            query = query.where(Subscription.user_id == user_id)
        if sub_id:
            query = query.where(Subscription.id == sub_id)
        return list(session.scalars(query.order_by(Subscription.created_at.desc()).limit(100)).all())


@router.get("")
async def list_subscriptions(
    merchant: Reader, ledger: LedgerDep, user_id: Annotated[str | None, Query()] = None
) -> Envelope[list[SubscriptionOut]]:
    """The merchant's subscriptions as the ledger has them (newest first, at most 100)."""
    rows = await run_in_threadpool(_rows, ledger, merchant.merchant_id, user_id, None)
    return ok([_out(r) for r in rows])


async def _one(ledger: Ledger, merchant_id: str, sub_id: str) -> Subscription:
    rows = await run_in_threadpool(_rows, ledger, merchant_id, None, sub_id)
    if not rows:
        raise ApiError(404, "not_found", f"no subscription {sub_id}", "id")
    return rows[0]


@router.get("/{sub_id}")
async def get_subscription(
    sub_id: str, merchant: Reader, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionOut]:
    """One subscription, with its workflow's live state (period, next renewal, failures)."""
    row = await _one(ledger, merchant.merchant_id, sub_id)
    client = await state.temporal()
    try:
        live: SubscriptionState | None = await subscription_state(client, row.workflow_id)
    except RPCError:
        live = None
    return ok(_out(row, live))


async def _steer(
    ledger: Ledger, state: StateDep, merchant_id: str, sub_id: str, signal: str, payload: BaseModel
) -> SubscriptionState:
    row = await _one(ledger, merchant_id, sub_id)
    if row.status in ("canceled", "incomplete_expired"):
        raise ApiError(409, "subscription_ended", f"subscription {sub_id} has ended ({row.status})", "id")
    client = await state.temporal()
    await steer(client, row.workflow_id, signal, payload)
    return await subscription_state(client, row.workflow_id)


@router.post("/{sub_id}/cancel", status_code=202)
async def cancel(
    sub_id: str, body: CancelIn, merchant: Writer, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionState]:
    """Cancel now, or at the end of the current period."""
    payload = CancelRequest(by=body.by, reason=body.reason, at_period_end=body.at_period_end)
    return ok(await _steer(ledger, state, merchant.merchant_id, sub_id, CANCEL, payload))


@router.post("/{sub_id}/pause", status_code=202)
async def pause(
    sub_id: str, merchant: Writer, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionState]:
    """Pause collection: periods pass without charges until resumed."""
    return ok(await _steer(ledger, state, merchant.merchant_id, sub_id, PAUSE, Decision(by="api")))


@router.post("/{sub_id}/resume", status_code=202)
async def resume(
    sub_id: str, merchant: Writer, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionState]:
    """Resume collection from the next renewal."""
    return ok(await _steer(ledger, state, merchant.merchant_id, sub_id, RESUME, Decision(by="api")))


@router.post("/{sub_id}/change_plan", status_code=202)
async def change_plan(
    sub_id: str, body: ChangePlanIn, merchant: Writer, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionState]:
    """Switch to another price (or amount), prorated as asked."""
    if body.price_id is None and (body.amount is None or body.currency is None):
        raise ApiError(422, "invalid_request", "give price_id, or amount and currency", "price_id")
    plan = Plan(
        price_id=body.price_id,
        amount_minor=_minor(body.amount, body.currency),
        currency=body.currency.lower() if body.currency else None,
        interval=body.interval,
        interval_count=body.interval_count,
    )
    payload = ChangePlan(plan=plan, proration_behavior=body.proration_behavior)
    return ok(await _steer(ledger, state, merchant.merchant_id, sub_id, CHANGE_PLAN, payload))


def _card_pm(ledger: Ledger, merchant_id: str, card_id: str) -> str:
    with ledger.session() as session:
        pm = session.scalar(
            select(SavedCard.stripe_payment_method_id).where(
                SavedCard.merchant_id == merchant_id, SavedCard.id == card_id, SavedCard.active.is_(True)
            )
        )
    if pm is None:
        raise ApiError(404, "not_found", f"no saved card {card_id}", "saved_card_id")
    return pm


@router.post("/{sub_id}/update_card", status_code=202)
async def update_card(
    sub_id: str, body: UpdateCardIn, merchant: Writer, ledger: LedgerDep, state: StateDep
) -> Envelope[SubscriptionState]:
    """Charge this saved card from now on; during dunning the unpaid invoice is retried at once."""
    pm = await run_in_threadpool(_card_pm, ledger, merchant.merchant_id, body.saved_card_id)
    return ok(
        await _steer(
            ledger, state, merchant.merchant_id, sub_id, UPDATE_CARD, UpdateCard(payment_method_id=pm)
        )
    )
