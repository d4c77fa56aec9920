"""Typed helpers for Python backends to start and steer payments and refunds through Temporal.

The API and the CLI use these; a backend can too:

    state = await create_payment(client, ledger, settings, "m_1", "order-42", PaymentCreate(...))
    await approve_payment(client, ledger, "m_1", state.payment_id, Decision(by="ops@example.com"))
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, select
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from billflow.config import Settings
from billflow.idempotency import workflow_id
from billflow.ledger import Merchant, Payment, Refund, SavedCard
from billflow.ledger.db import Ledger
from billflow.money import MoneyError, format_money, to_minor
from billflow.payments import (
    CAPTURE_UPDATE,
    CUSTOMER_RETURNED,
    FIRST_OUTCOME_WAIT_SECONDS,
    OUTCOME_UPDATE,
    PaymentCreate,
    PaymentInput,
    PaymentState,
    PaymentStatus,
    RefundCreate,
    RefundInput,
    RefundState,
    payment_id_for,
    refund_id_for,
)
from billflow.signals import APPROVE, CANCEL, REJECT, STATE_QUERY, Decision
from workflows.common import start_attributes, static_details
from workflows.payment import PaymentWorkflow
from workflows.refund import RefundWorkflow

# A Temporal client, or a way to get one once the request has passed every ledger check (so a
# request billflow refuses anyway never waits on, or fails for, Temporal).
ClientSource = Client | Callable[[], Awaitable[Client]]


async def _resolve(source: ClientSource) -> Client:
    return source if isinstance(source, Client) else await source()


StateT = TypeVar("StateT", PaymentState, RefundState)


class PaymentRequestError(ValueError):
    """A request billflow refuses; `status` is the HTTP status, `field` the offending field."""

    def __init__(self, message: str, *, status: int, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


def request_hash(body: BaseModel) -> str:
    """A stable hash of a request body, to tell a replay from a reused key with another body."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class MerchantLimits:
    payment_approval_threshold_minor: int | None
    refund_approval_threshold_minor: int | None


def merchant_limits(ledger: Ledger, merchant_id: str) -> MerchantLimits:
    with ledger.session() as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            raise PaymentRequestError(
                f"unknown merchant {merchant_id}", status=404, code="merchant_not_found"
            )
        return MerchantLimits(
            merchant.payment_approval_threshold_minor, merchant.refund_approval_threshold_minor
        )


def payment_input(
    ledger: Ledger, settings: Settings, merchant_id: str, idempotency_key: str, body: PaymentCreate
) -> PaymentInput:
    """Resolve the saved card and the merchant's threshold into the workflow's input."""
    wid = workflow_id("payment", merchant_id, idempotency_key)
    limits = merchant_limits(ledger, merchant_id)
    payment_method, customer, off_session = body.payment_method, body.customer, False
    if body.saved_card_id is not None:
        with ledger.session() as session:
            card = session.get(SavedCard, body.saved_card_id)
            if card is None or card.merchant_id != merchant_id or not card.active:
                raise PaymentRequestError(
                    f"saved card {body.saved_card_id} does not exist",
                    status=404,
                    code="saved_card_not_found",
                    field="saved_card_id",
                )
            payment_method, customer, off_session = (
                card.stripe_payment_method_id,
                card.stripe_customer_id,
                True,
            )
    assert payment_method is not None
    return PaymentInput(
        merchant_id=merchant_id,
        payment_id=payment_id_for(wid),
        amount_minor=body.amount_minor,
        currency=body.currency,
        payment_method=payment_method,
        customer=customer,
        off_session=off_session,
        saved_card_id=body.saved_card_id,
        capture=body.capture,
        return_url=body.return_url,
        description=body.description,
        metadata=body.metadata,
        approval_threshold_minor=limits.payment_approval_threshold_minor,
        three_ds_timeout_seconds=settings.three_ds_timeout_seconds,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        request_hash=request_hash(body),
    )


def _conflict(kind: str, key: str) -> PaymentRequestError:
    return PaymentRequestError(
        f"Idempotency-Key {key!r} was already used for a different {kind} request; "
        "use a new key for a new request",
        status=409,
        code="idempotency_key_reused",
    )


async def _state_or_retry_later(client: Client, wid: str, model: type[StateT]) -> StateT:
    try:
        state: StateT = await client.get_workflow_handle(wid).query(
            STATE_QUERY, result_type=model, rpc_timeout=timedelta(seconds=5)
        )
    except RPCError:
        raise PaymentRequestError(
            "the request is still being processed; repeat it with the same Idempotency-Key",
            status=503,
            code="still_processing",
        ) from None
    return state


def _payment_details(data: PaymentInput) -> str:
    threshold = data.approval_threshold_minor or 0
    return static_details(
        ("Payment", data.payment_id),
        ("Merchant", data.merchant_id),
        ("Amount", format_money(data.amount_minor, data.currency)),
        ("Customer", data.customer),
        ("Payment method", data.payment_method),
        ("Saved card", data.saved_card_id),
        ("Capture", data.capture + (" (off session)" if data.off_session else "")),
        (
            "Approval",
            f"needed: above {format_money(threshold, data.currency)}" if data.needs_approval else None,
        ),
        ("Description", data.description),
    )


async def submit_payment(
    client: Client,
    data: PaymentInput,
    *,
    workflow_id: str,
    task_queue: str,
    wait_seconds: float = FIRST_OUTCOME_WAIT_SECONDS,
) -> PaymentState:
    """Start the payment (or join the run of the same key) and wait for the first Stripe outcome."""
    who = data.customer or data.payment_method
    start = WithStartWorkflowOperation(
        PaymentWorkflow.run,
        data,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Charge {format_money(data.amount_minor, data.currency)} to {who}",
        static_details=_payment_details(data),
        search_attributes=start_attributes(
            "payment",
            "processing",
            data.merchant_id,
            customer_id=data.customer,
            amount_minor=data.amount_minor,
            currency=data.currency,
        ),
    )
    try:
        state: PaymentState = await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                OUTCOME_UPDATE, start_workflow_operation=start, result_type=PaymentState
            ),
            timeout=wait_seconds,
        )
    except WorkflowAlreadyStartedError:
        # The run for this key has already finished: its result is the answer.
        state = await client.get_workflow_handle(workflow_id, result_type=PaymentState).result()
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # Stripe is slow or unreachable and the run keeps retrying: answer with where it is now.
        state = await _state_or_retry_later(client, workflow_id, PaymentState)
    return state


async def create_payment(
    client: ClientSource,
    ledger: Ledger,
    settings: Settings,
    merchant_id: str,
    idempotency_key: str,
    body: PaymentCreate,
    *,
    task_queue: str | None = None,
) -> PaymentState:
    """`POST /v1/payments`: the same key and body give the same payment; another body gives 409."""
    data = payment_input(ledger, settings, merchant_id, idempotency_key, body)
    wid = workflow_id("payment", merchant_id, idempotency_key)
    state = await submit_payment(
        await _resolve(client), data, workflow_id=wid, task_queue=task_queue or settings.temporal_task_queue
    )
    if state.request_hash != data.request_hash:
        raise _conflict("payment", idempotency_key)
    return state


def payment_row(ledger: Ledger, merchant_id: str, payment_id: str) -> Payment:
    with ledger.session() as session:
        row = session.get(Payment, payment_id)
        if row is None or row.merchant_id != merchant_id:
            raise PaymentRequestError(f"payment {payment_id} does not exist", status=404, code="not_found")
        session.expunge(row)
        return row


async def payment_state(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str
) -> PaymentState:
    """The payment's live state from its workflow (the ledger row finds the workflow)."""
    row = payment_row(ledger, merchant_id, payment_id)
    handle = (await _resolve(client)).get_workflow_handle(row.workflow_id, result_type=PaymentState)
    if row.status in ("completed", "failed", "canceled"):
        # A finished run's result is its final state, read from history without a worker.
        try:
            final: PaymentState = await handle.result(rpc_timeout=timedelta(seconds=5))
            return final
        except WorkflowFailureError:
            pass
    state: PaymentState = await handle.query(
        STATE_QUERY, result_type=PaymentState, rpc_timeout=timedelta(seconds=5)
    )
    return state


async def _signal(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str, name: str, arg: Any
) -> None:
    row = payment_row(ledger, merchant_id, payment_id)
    if row.status in ("completed", "failed", "canceled"):
        raise PaymentRequestError(
            f"payment {payment_id} is already {row.status}", status=409, code="payment_finished"
        )
    handle = (await _resolve(client)).get_workflow_handle(row.workflow_id)
    if arg is None:
        await handle.signal(name)
    else:
        await handle.signal(name, arg)


async def approve_payment(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str, decision: Decision
) -> None:
    await _signal(client, ledger, merchant_id, payment_id, APPROVE, decision)


async def reject_payment(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str, decision: Decision
) -> None:
    await _signal(client, ledger, merchant_id, payment_id, REJECT, decision)


async def cancel_payment(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str, decision: Decision
) -> None:
    await _signal(client, ledger, merchant_id, payment_id, CANCEL, decision)


async def customer_returned(client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str) -> None:
    """The customer came back from 3-D Secure: ask the workflow to re-read the intent now."""
    await _signal(client, ledger, merchant_id, payment_id, CUSTOMER_RETURNED, None)


async def capture_payment(
    client: ClientSource, ledger: Ledger, merchant_id: str, payment_id: str, amount: Decimal | None
) -> PaymentState:
    """Capture all (None) or part of a manual-capture payment; returns the state after capture."""
    row = payment_row(ledger, merchant_id, payment_id)
    amount_minor = None
    if amount is not None:
        try:
            amount_minor = to_minor(amount, row.currency)
        except MoneyError as exc:
            raise PaymentRequestError(str(exc), status=422, code="invalid_amount", field="amount") from None
    status = row.status
    if status in ("requires_capture", "completed") and row.capture_method == "manual":
        # A retried capture (its first answer was lost) asks for what already happened: the same
        # answer again, not a conflict. The live state decides, since the ledger row may lag.
        live = await payment_state(client, ledger, merchant_id, payment_id)
        if live.status == PaymentStatus.COMPLETED and amount_minor in (None, live.amount_captured_minor):
            return live
        status = live.status.value
    if status != "requires_capture":
        raise PaymentRequestError(
            f"payment {payment_id} is {status}, not waiting for capture",
            status=409,
            code="capture_refused",
        )
    handle = (await _resolve(client)).get_workflow_handle(row.workflow_id)
    try:
        state: PaymentState = await handle.execute_update(
            CAPTURE_UPDATE, amount_minor, result_type=PaymentState
        )
    except WorkflowUpdateFailedError as exc:
        message = str(exc.cause.message if hasattr(exc.cause, "message") else exc.cause)
        raise PaymentRequestError(message, status=409, code="capture_refused") from None
    return state


# ---------------------------------------------------------------------------------------------
# refunds


async def create_refund(
    client: ClientSource,
    ledger: Ledger,
    settings: Settings,
    merchant_id: str,
    idempotency_key: str,
    body: RefundCreate,
    *,
    task_queue: str | None = None,
) -> RefundState:
    """`POST /v1/refunds`: reserve and refund (or wait for approval); same key + body = same refund."""
    row = payment_row(ledger, merchant_id, body.payment_id)
    amount_minor = None
    if body.amount is not None:
        try:
            amount_minor = to_minor(body.amount, row.currency)
        except MoneyError as exc:
            raise PaymentRequestError(str(exc), status=422, code="invalid_amount", field="amount") from None
    limits = merchant_limits(ledger, merchant_id)
    wid = workflow_id("refund", merchant_id, idempotency_key)
    data = RefundInput(
        merchant_id=merchant_id,
        refund_id=refund_id_for(wid),
        payment_id=body.payment_id,
        amount_minor=amount_minor,
        reason=body.reason,
        approval_threshold_minor=limits.refund_approval_threshold_minor,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        request_hash=request_hash(body),
    )
    shown = format_money(amount_minor, row.currency) if amount_minor else "the rest"
    start = WithStartWorkflowOperation(
        RefundWorkflow.run,
        data,
        id=wid,
        task_queue=task_queue or settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"Refund {shown} of {body.payment_id}",
        static_details=static_details(
            ("Refund", data.refund_id),
            ("Payment", f"{body.payment_id} ({format_money(row.amount_minor, row.currency)})"),
            ("Merchant", merchant_id),
            ("Amount", shown),
            ("Customer", row.stripe_customer_id),
            ("Reason", body.reason),
            (
                "Approval",
                f"above {format_money(data.approval_threshold_minor, row.currency)}"
                if data.approval_threshold_minor is not None
                else None,
            ),
        ),
        search_attributes=start_attributes(
            "refund",
            "processing",
            merchant_id,
            customer_id=row.stripe_customer_id,
            amount_minor=amount_minor,
            currency=row.currency,
        ),
    )
    temporal = await _resolve(client)
    try:
        state: RefundState = await asyncio.wait_for(
            temporal.execute_update_with_start_workflow(
                OUTCOME_UPDATE, start_workflow_operation=start, result_type=RefundState
            ),
            timeout=FIRST_OUTCOME_WAIT_SECONDS,
        )
    except WorkflowAlreadyStartedError:
        state = await temporal.get_workflow_handle(wid, result_type=RefundState).result()
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        state = await _state_or_retry_later(temporal, wid, RefundState)
    if state.request_hash != data.request_hash:
        raise _conflict("refund", idempotency_key)
    return state


async def decide_refund(
    client: ClientSource, ledger: Ledger, merchant_id: str, refund_id: str, approve: bool, decision: Decision
) -> None:
    with ledger.session() as session:
        row = session.get(Refund, refund_id)
        if row is None or row.merchant_id != merchant_id:
            raise PaymentRequestError(f"refund {refund_id} does not exist", status=404, code="not_found")
        wid = row.workflow_id
    await (await _resolve(client)).get_workflow_handle(wid).signal(APPROVE if approve else REJECT, decision)


# ---------------------------------------------------------------------------------------------
# listing (ledger reads, cursor pagination)


@dataclass(frozen=True)
class PaymentFilters:
    provider: str | None = None
    status: str | None = None
    currency: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    customer: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(row_id)
    except (ValueError, TypeError) as exc:
        raise PaymentRequestError(
            "cursor is not valid", status=422, code="invalid_cursor", field="cursor"
        ) from exc


def _page(query: Select[Any], model: Any, cursor: str | None, limit: int) -> Select[Any]:
    if cursor:
        created, row_id = decode_cursor(cursor)
        query = query.where(
            (model.created_at < created) | ((model.created_at == created) & (model.id < row_id))
        )
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def list_payments(
    ledger: Ledger, merchant_id: str, filters: PaymentFilters, cursor: str | None, limit: int = 20
) -> tuple[list[Payment], str | None]:
    """Newest first; `min_amount`/`max_amount` need `currency` (they are converted with its exponent)."""
    query = select(Payment).where(Payment.merchant_id == merchant_id)
    if filters.provider:
        query = query.where(Payment.provider == filters.provider)
    if filters.status:
        query = query.where(Payment.status == filters.status)
    if filters.currency:
        query = query.where(Payment.currency == filters.currency.lower())
    for bound, field in ((filters.min_amount, "min_amount"), (filters.max_amount, "max_amount")):
        if bound is None:
            continue
        if not filters.currency:
            raise PaymentRequestError(
                f"{field} needs currency", status=422, code="invalid_filter", field=field
            )
        try:
            minor = to_minor(bound, filters.currency)
        except MoneyError as exc:
            raise PaymentRequestError(str(exc), status=422, code="invalid_filter", field=field) from None
        column = Payment.amount_minor
        query = query.where(column >= minor if field == "min_amount" else column <= minor)
    if filters.customer:
        query = query.where(Payment.stripe_customer_id == filters.customer)
    if filters.since:
        query = query.where(Payment.created_at >= filters.since)
    if filters.until:
        query = query.where(Payment.created_at < filters.until)
    with ledger.session() as session:
        rows = list(session.scalars(_page(query, Payment, cursor, limit)))
        session.expunge_all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)


def list_refunds(
    ledger: Ledger, merchant_id: str, payment_id: str | None, cursor: str | None, limit: int = 20
) -> tuple[list[Refund], str | None]:
    query = select(Refund).where(Refund.merchant_id == merchant_id)
    if payment_id:
        query = query.where(Refund.payment_id == payment_id)
    with ledger.session() as session:
        rows = list(session.scalars(_page(query, Refund, cursor, limit)))
        session.expunge_all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)
