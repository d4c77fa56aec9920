"""RefundWorkflow: reserve the amount on the payment, wait for approval above a threshold, refund.

Serialisation: every refund first reserves its amount on the payment's ledger row in one locked
transaction (`refunds.reserve_refund`), so refunds of one payment racing each other can never
add up to more than was captured; the loser fails at once with a clear reason. A refund that
Stripe rejects or a manager refuses gives its reservation back. Stripe's own over-refund check
stays as a second line.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

# Pass-through: these modules (pydantic models, policies) are deterministic and need no
# per-run reload in the sandbox, which would rebuild every model class for every run.
with workflow.unsafe.imports_passed_through():
    from activities.payments_ledger import PaymentLedgerActivities
    from activities.refunds import RefundActivities
    from billflow.idempotency import stripe_key
    from billflow.money import format_money
    from billflow.notifications import MerchantEvent
    from billflow.payments import (
        OUTCOME_UPDATE,
        CreateRefundInput,
        RefundInput,
        RefundState,
        RefundStatus,
        ReserveRefundInput,
        SettleRefundInput,
        Waiting,
    )
    from billflow.policies import LEDGER_WRITE, STRIPE_WRITE
    from billflow.signals import APPROVE, REJECT, STATE_QUERY, STRIPE_EVENT, Decision, StripeEventSignal
    from workflows.common import (
        EXAMPLE_DECISION,
        ManagerDecision,
        StripeEventBatches,
        clear_waiting,
        notify,
        set_status,
        set_waiting,
    )


@workflow.defn
class RefundWorkflow(ManagerDecision, StripeEventBatches):
    def __init__(self) -> None:
        self._state: RefundState | None = None
        self._first_known = False
        self._decision: tuple[str, Decision] | None = None

    @workflow.query(name=STATE_QUERY)
    def state(self) -> RefundState:
        assert self._state is not None
        return self._state

    @workflow.update(name=OUTCOME_UPDATE)
    async def first_outcome(self) -> RefundState:
        """Returns once the refund is done, refused, or waiting for approval."""
        await workflow.wait_condition(lambda: self._first_known)
        return self.state()

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        """Card refunds settle in the create call; later refund events need no action here."""

    @workflow.run
    async def run(self, data: RefundInput) -> RefundState:
        wid = workflow.info().workflow_id
        state = self._state = RefundState(
            refund_id=data.refund_id,
            workflow_id=wid,
            merchant_id=data.merchant_id,
            payment_id=data.payment_id,
            request_hash=data.request_hash,
        )
        reservation = await workflow.execute_activity_method(
            PaymentLedgerActivities.reserve_refund,
            ReserveRefundInput(
                merchant_id=data.merchant_id,
                refund_id=data.refund_id,
                workflow_id=wid,
                payment_id=data.payment_id,
                amount_minor=data.amount_minor,
                reason=data.reason,
            ),
            summary=f"ledger: reserve refund on {data.payment_id}",
            **LEDGER_WRITE.kwargs(),
        )
        state.amount_minor = reservation.amount_minor
        state.currency = reservation.currency or None
        if not reservation.accepted:
            return await self._fail(reservation.failure_code, reservation.failure_reason, release=False)
        assert reservation.payment_intent_id is not None
        set_status(RefundStatus.PROCESSING.value, amount_minor=reservation.amount_minor)

        threshold = data.approval_threshold_minor
        if threshold is not None and reservation.amount_minor > threshold:
            if not await self._approved(data):
                return self.state()

        try:
            refund = await workflow.execute_activity_method(
                RefundActivities.create_refund,
                CreateRefundInput(
                    merchant_id=data.merchant_id,
                    workflow_id=wid,
                    refund_id=data.refund_id,
                    payment_id=data.payment_id,
                    idempotency_key=stripe_key(wid, "create_refund"),
                    payment_intent_id=reservation.payment_intent_id,
                    amount_minor=reservation.amount_minor,
                    reason=data.reason,
                ),
                summary=f"refund {format_money(reservation.amount_minor, reservation.currency)} "
                f"of {reservation.payment_intent_id}",
                **STRIPE_WRITE.kwargs(),
            )
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                raise
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            return await self._fail(
                str(details.get("code") or cause.type), str(details.get("message") or cause.message)
            )
        state.stripe_refund_id = refund.id
        if refund.status == "failed":
            return await self._fail("refund_failed", refund.failure_reason or "Stripe could not refund")
        await self._settle(RefundStatus.SUCCEEDED)
        await notify(
            MerchantEvent(
                event_id=f"{wid}:payment.refunded",
                merchant_id=data.merchant_id,
                type="payment.refunded",
                data=state.model_dump(mode="json", exclude={"waiting"}),
            )
        )
        self._first_known = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _approved(self, data: RefundInput) -> bool:
        state = self.state()
        until = workflow.now() + timedelta(seconds=data.approval_timeout_seconds)
        state.status = RefundStatus.REQUIRES_APPROVAL
        state.waiting = Waiting(what="a manager's approval", until=until, ends_with=[APPROVE, REJECT])
        set_status(state.status.value)
        set_waiting(
            "a manager's approval of the refund",
            until,
            also={APPROVE: EXAMPLE_DECISION, REJECT: EXAMPLE_DECISION},
        )
        await notify(
            MerchantEvent(
                event_id=f"{state.workflow_id}:refund.requires_approval",
                merchant_id=data.merchant_id,
                type="refund.requires_approval",
                data=state.model_dump(mode="json", exclude={"waiting"}),
            )
        )
        self._first_known = True
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=until - workflow.now())
        except TimeoutError:
            pass
        state.waiting = None
        clear_waiting()
        if self._decision is None:
            await self._fail("approval_timeout", "no approval before the deadline")
            return False
        verdict, decision = self._decision
        state.approval = {"decision": verdict, "by": decision.by, "reason": decision.reason}
        if verdict == REJECT:
            await self._fail(
                "approval_rejected", f"rejected by {decision.by}: {decision.reason}".rstrip(": ")
            )
            return False
        state.status = RefundStatus.PROCESSING
        set_status(state.status.value)
        return True

    async def _fail(self, code: str | None, reason: str | None, release: bool = True) -> RefundState:
        state = self.state()
        state.failure_code = code or "refund_failed"
        state.failure_reason = reason or "the refund could not be made"
        if release:
            await self._settle(RefundStatus.FAILED, release=True)
        else:
            state.status = RefundStatus.FAILED
            set_status(state.status.value)
        self._first_known = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _settle(self, status: RefundStatus, release: bool = False) -> None:
        state = self.state()
        state.status = status
        set_status(status.value)
        await workflow.execute_activity_method(
            PaymentLedgerActivities.settle_refund,
            SettleRefundInput(
                workflow_id=state.workflow_id,
                status=status,
                stripe_refund_id=state.stripe_refund_id,
                failure_reason=state.failure_reason,
                release=release,
            ),
            summary=f"ledger: refund {state.refund_id} {status.value}",
            **LEDGER_WRITE.kwargs(),
        )
