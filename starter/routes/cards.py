"""Saved cards: save (SetupIntent + 3-D Secure + de-duplication), list, make default, detach."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from billflow.idempotency import workflow_id
from billflow.ledger import Merchant, SavedCard, Subscription
from billflow.ledger.db import Ledger
from billflow.merchants import AuthedMerchant
from billflow.subscriptions import CARD_OUTCOME, CardView, SaveCardState
from starter.deps import IDEMPOTENCY_HEADER, LedgerDep, SettingsDep, StateDep, require_scope
from starter.envelope import ApiError, Envelope, ErrorEnvelope, ok
from workflows.common import start_attributes, static_details
from workflows.save_card import (
    CardCommandInput,
    CardCommandWorkflow,
    SaveCardInput,
    SaveCardWorkflow,
    save_card_details,
)

router = APIRouter(
    prefix="/v1/payments/cards",
    tags=["cards"],
    responses={503: {"model": ErrorEnvelope, "description": "Temporal unreachable: nothing was started"}},
)
Writer = Annotated[AuthedMerchant, require_scope("payments:write")]
Reader = Annotated[AuthedMerchant, require_scope("payments:read")]
LIVE_SUBSCRIPTION = ("active", "trialing", "past_due", "paused", "incomplete")


class SaveCardIn(BaseModel):
    payment_method_id: str = Field(pattern=r"^pm_\w+$", examples=["pm_card_visa"])
    user_id: str = Field(min_length=1, max_length=200)
    customer_email: str | None = Field(default=None, max_length=320)
    customer_name: str | None = Field(default=None, max_length=200)
    return_url: str | None = None
    test_clock: str | None = Field(
        default=None, description="Tests only: a Stripe test clock for a new customer."
    )


class SaveCardOut(BaseModel):
    status: str
    workflow_id: str
    redirect_url: str | None = None
    card: CardView | None = None
    deduplicated: bool = False
    error_code: str | None = None
    error_message: str | None = None


def _has_stripe(ledger: Ledger, merchant_id: str) -> bool:
    with ledger.session() as session:
        row = session.get(Merchant, merchant_id)
        return row is not None and row.stripe_secret_key_enc is not None


def _card_wid(merchant_id: str, body: SaveCardIn, key: str | None) -> str:
    if key:
        return workflow_id("card", merchant_id, key)
    return f"card/{merchant_id}/{body.user_id}/{body.payment_method_id}"


@router.post("", status_code=200)
async def save_card(
    body: SaveCardIn,
    merchant: Writer,
    ledger: LedgerDep,
    state: StateDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> Envelope[SaveCardOut]:
    """Save a card for off-session use; `pending` carries the 3-D Secure redirect URL."""
    if not await run_in_threadpool(_has_stripe, ledger, merchant.merchant_id):
        raise ApiError(
            409,
            "stripe_not_configured",
            "save your Stripe credentials first (PUT /v1/merchant/providers)",
            "payment_method_id",
        )
    client = await state.temporal()
    wid = _card_wid(merchant.merchant_id, body, idempotency_key)
    data = SaveCardInput(
        merchant_id=merchant.merchant_id,
        user_id=body.user_id,
        payment_method_id=body.payment_method_id,
        customer_email=body.customer_email,
        customer_name=body.customer_name,
        return_url=body.return_url,
        test_clock=body.test_clock,
    )
    start = WithStartWorkflowOperation(
        SaveCardWorkflow.run,
        data,
        id=wid,
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Save card {body.payment_method_id} for user {body.user_id}",
        static_details=save_card_details(data),
        search_attributes=start_attributes("save_card", "started", merchant.merchant_id),
    )
    outcome = await client.execute_update_with_start_workflow(
        CARD_OUTCOME, start_workflow_operation=start, result_type=SaveCardState
    )
    return ok(
        SaveCardOut(workflow_id=wid, **outcome.model_dump(exclude={"stripe_customer_id", "setup_intent_id"}))
    )


def _cards(ledger: Ledger, merchant_id: str, user_id: str) -> list[CardView]:
    with ledger.session() as session:
        rows = session.scalars(
            select(SavedCard)
            .where(
                SavedCard.merchant_id == merchant_id, SavedCard.user_id == user_id, SavedCard.active.is_(True)
            )
            .order_by(SavedCard.created_at)
        ).all()
        return [
            CardView(
                id=r.id,
                payment_method_id=r.stripe_payment_method_id,
                brand=r.brand,
                last4=r.last4,
                exp_month=r.exp_month,
                exp_year=r.exp_year,
                is_default=r.is_default,
            )
            for r in rows
        ]


@router.get("")
async def list_cards(
    merchant: Reader, ledger: LedgerDep, user_id: Annotated[str, Query(min_length=1)]
) -> Envelope[list[CardView]]:
    """The active saved cards of one user, the default first."""
    cards = await run_in_threadpool(_cards, ledger, merchant.merchant_id, user_id)
    return ok(sorted(cards, key=lambda c: not c.is_default))


def _command_input(ledger: Ledger, merchant_id: str, card_id: str, action: str) -> CardCommandInput:
    with ledger.session() as session:
        row = session.scalar(
            select(SavedCard).where(SavedCard.merchant_id == merchant_id, SavedCard.id == card_id)
        )
        if row is None or not row.active:
            raise ApiError(404, "not_found", f"no saved card {card_id}", "id")
        if action == "detach":
            others = session.scalar(
                select(func.count())
                .select_from(SavedCard)
                .where(
                    SavedCard.merchant_id == merchant_id,
                    SavedCard.user_id == row.user_id,
                    SavedCard.active.is_(True),
                    SavedCard.id != card_id,
                )
            )
            live = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(
                    Subscription.merchant_id == merchant_id,
                    Subscription.user_id == row.user_id,
                    Subscription.status.in_(LIVE_SUBSCRIPTION),
                )
            )
            if not others and live:
                raise ApiError(
                    409,
                    "card_in_use",
                    "this is the only card of an active subscription: save another card first, or cancel the subscription",
                    "id",
                )
        return CardCommandInput(
            merchant_id=merchant_id,
            user_id=row.user_id,
            customer_id=row.stripe_customer_id,
            fingerprint=row.fingerprint,
            card=CardView(
                id=row.id,
                payment_method_id=row.stripe_payment_method_id,
                brand=row.brand,
                last4=row.last4,
                exp_month=row.exp_month,
                exp_year=row.exp_year,
                is_default=row.is_default,
            ),
            action="detach" if action == "detach" else "set_default",
        )


async def _command(
    ledger: Ledger,
    state: StateDep,
    task_queue: str,
    merchant_id: str,
    card_id: str,
    action: str,
    key: str | None,
) -> CardView:
    data = await run_in_threadpool(_command_input, ledger, merchant_id, card_id, action)
    client = await state.temporal()  # after the 404/409 checks, which need no Temporal
    wid = f"card-{action}/{merchant_id}/{card_id}/{key or uuid.uuid4().hex}"
    return await client.execute_workflow(
        CardCommandWorkflow.run,
        data,
        id=wid,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"{action} card {card_id}",
        static_details=static_details(
            ("Card", f"{card_id} ({data.card.brand} •••• {data.card.last4})"),
            ("Payment method", data.card.payment_method_id),
            ("Merchant", merchant_id),
            ("User", data.user_id),
            ("Customer", data.customer_id),
        ),
        search_attributes=start_attributes("card", action, merchant_id, customer_id=data.customer_id),
    )


@router.post("/{card_id}/default")
async def make_default(
    card_id: str,
    merchant: Writer,
    ledger: LedgerDep,
    state: StateDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> Envelope[CardView]:
    """Make a saved card the user's default for invoices and subscriptions."""
    return ok(
        await _command(
            ledger,
            state,
            settings.temporal_task_queue,
            merchant.merchant_id,
            card_id,
            "default",
            idempotency_key,
        )
    )


@router.delete("/{card_id}")
async def delete_card(
    card_id: str,
    merchant: Writer,
    ledger: LedgerDep,
    state: StateDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
) -> Envelope[CardView]:
    """Detach a card at Stripe and deactivate it; 409 while it is the only card of an active subscription."""
    return ok(
        await _command(
            ledger,
            state,
            settings.temporal_task_queue,
            merchant.merchant_id,
            card_id,
            "detach",
            idempotency_key,
        )
    )
