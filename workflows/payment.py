"""PaymentWorkflow: create and confirm a PaymentIntent, wait out 3-D Secure and approval, capture.

The `first_outcome` update returns as soon as the first Stripe round-trip is known (completed,
pending 3-D Secure, requires_approval, requires_capture or failed), which is what the API's
update-with-start waits for. The run then goes on alone: it waits for webhooks, the customer's
return or a poll, for `approve`/`reject`, for `capture`, each with a deadline, and records every
transition in the ledger before notifying the merchant.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

# Pass-through: these modules (pydantic models, policies) are deterministic and need no
# per-run reload in the sandbox, which would rebuild every model class for every run.
with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from activities.payments_ledger import PaymentLedgerActivities
    from billflow.idempotency import stripe_key
    from billflow.money import format_money
    from billflow.notifications import MerchantEvent
    from billflow.payments import (
        CAPTURE_UPDATE,
        CUSTOMER_RETURNED,
        OUTCOME_UPDATE,
        TERMINAL_PAYMENT,
        CancelIntentInput,
        CaptureIntentInput,
        CreateIntentInput,
        IntentRef,
        IntentView,
        PaymentInput,
        PaymentRecord,
        PaymentState,
        PaymentStatus,
        Waiting,
    )
    from billflow.policies import LEDGER_WRITE, STRIPE_READ, STRIPE_WRITE
    from billflow.signals import (
        APPROVE,
        CANCEL,
        REJECT,
        STATE_QUERY,
        STRIPE_EVENT,
        Decision,
        StripeEventSignal,
    )
    from workflows.common import (
        EXAMPLE_DECISION,
        ManagerDecision,
        StripeEventBatches,
        clear_waiting,
        notify,
        recheck_example,
        set_status,
        set_waiting,
    )

# Stripe error types that end a payment as failed (raised by stripe_errors()); any other
# non-retryable error (e.g. MerchantNotConfigured) fails the payment too, with its type as code.
_FINAL_STRIPE = {"CardDeclined", "AuthenticationRequired", "InvalidRequest", "ResourceMissing"}


class _Stop(Exception):
    """Ends the run early with the state already set (failed or canceled)."""


def _stripe_failure(err: ActivityError) -> tuple[str, str] | None:
    """(code, readable reason) of a final Stripe error, or None when it is something else."""
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type not in _FINAL_STRIPE and not cause.non_retryable:
        return None  # retries exhausted on a transient error: let the run fail loudly
    details: dict[str, Any] = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    code: Any = "authentication_required" if cause.type == "AuthenticationRequired" else None
    code = code or details.get("decline_code") or details.get("code") or cause.type or "payment_failed"
    return str(code), str(details.get("message") or cause.message)


@workflow.defn
class PaymentWorkflow(ManagerDecision, StripeEventBatches):
    def __init__(self) -> None:
        self._state: PaymentState | None = None
        self._first_known = False
        self._recheck = False
        self._decision: tuple[str, Decision] | None = None
        self._cancel: Decision | None = None
        self._capture_requested = False
        self._capture_amount: int | None = None
        self._capture_error: str | None = None
        self._data: PaymentInput | None = None

    # ----------------------------------------------------------------------------- handlers

    @workflow.query(name=STATE_QUERY)
    def state(self) -> PaymentState:
        assert self._state is not None
        return self._state

    @workflow.update(name=OUTCOME_UPDATE)
    async def first_outcome(self) -> PaymentState:
        """Returns once the first Stripe round-trip's outcome is known."""
        await workflow.wait_condition(lambda: self._first_known)
        return self.state()

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        self._recheck = True

    @workflow.signal(name=CUSTOMER_RETURNED)
    def customer_returned(self) -> None:
        self._recheck = True

    @workflow.signal(name=CANCEL)
    def cancel(self, decision: Decision) -> None:
        if self._cancel is None:
            self._cancel = decision

    @workflow.update(name=CAPTURE_UPDATE)
    async def capture(self, amount_minor: int | None = None) -> PaymentState:
        """Capture all (None) or part of the authorisation; returns the state after the capture.

        A repeat of the request in progress (a client retrying after a lost answer) waits for the
        same capture instead of being refused; the validator refuses a different amount.
        """
        if not self._capture_requested:
            self._capture_amount = amount_minor
            self._capture_requested = True
        await workflow.wait_condition(lambda: self.state().status in TERMINAL_PAYMENT)
        if self._capture_error:
            raise ApplicationError(self._capture_error, type="CaptureRefused")
        return self.state()

    @capture.validator
    def _validate_capture(self, amount_minor: int | None = None) -> None:
        state = self.state()
        if self._capture_requested and state.status not in TERMINAL_PAYMENT:
            if amount_minor != self._capture_amount:
                raise ValueError(
                    f"payment {state.payment_id} is already being captured"
                    f" ({self._capture_amount or 'in full'}), not for {amount_minor or 'in full'}"
                )
            return
        if state.status != PaymentStatus.REQUIRES_CAPTURE or self._capture_requested:
            raise ValueError(f"payment {state.payment_id} is {state.status.value}, not waiting for capture")
        if amount_minor is not None and not 0 < amount_minor <= state.amount_capturable_minor:
            raise ValueError(
                f"capture amount must be between 1 and {state.amount_capturable_minor} minor units"
            )

    # ----------------------------------------------------------------------------- the flow

    @workflow.run
    async def run(self, data: PaymentInput) -> PaymentState:
        self._data = data
        wid = workflow.info().workflow_id
        capture_method = "manual" if data.needs_approval or data.capture == "manual" else "automatic"
        self._state = PaymentState(
            payment_id=data.payment_id,
            workflow_id=wid,
            merchant_id=data.merchant_id,
            amount_minor=data.amount_minor,
            currency=data.currency,
            capture_method=capture_method,
            customer=data.customer,
            payment_method=data.payment_method,
            request_hash=data.request_hash,
        )
        try:
            intent = await self._create_intent(capture_method)
            if intent.status == "requires_action":
                intent = await self._await_authentication(intent)
            if intent.status == "requires_capture":
                if data.needs_approval:
                    await self._await_approval()
                if data.capture == "automatic":
                    intent = await self._capture_now(None)
                else:
                    intent = await self._await_capture()
            if intent.status == "succeeded":
                await self._finish_completed(intent)
            elif self.state().status not in TERMINAL_PAYMENT:
                await self._finish_failed(
                    intent.error_code or "payment_failed",
                    intent.error_message or f"payment intent ended in status {intent.status}",
                )
        except _Stop:
            pass
        self._first_known = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    async def _create_intent(self, capture_method: str) -> IntentView:
        data = self._data
        assert data is not None
        wid = workflow.info().workflow_id
        await self._transition(PaymentStatus.PROCESSING)
        try:
            intent: IntentView = await workflow.execute_activity_method(
                PaymentActivities.create_intent,
                CreateIntentInput(
                    merchant_id=data.merchant_id,
                    workflow_id=wid,
                    payment_id=data.payment_id,
                    idempotency_key=stripe_key(wid, "create_intent"),
                    amount_minor=data.amount_minor,
                    currency=data.currency,
                    payment_method=data.payment_method,
                    customer=data.customer,
                    off_session=data.off_session,
                    capture_method="manual" if capture_method == "manual" else "automatic",
                    return_url=data.return_url,
                    description=data.description,
                    metadata=data.metadata,
                ),
                summary=f"create+confirm intent {format_money(data.amount_minor, data.currency)}",
                **STRIPE_WRITE.kwargs(),
            )
        except ActivityError as err:
            failure = _stripe_failure(err)
            if failure is None:
                raise
            await self._finish_failed(*failure)
            raise _Stop() from None
        self._absorb(intent)
        return intent

    async def _await_authentication(self, intent: IntentView) -> IntentView:
        """Wait for 3-D Secure: a webhook, the customer's return or a poll, until the deadline."""
        data = self._data
        assert data is not None
        until = workflow.now() + timedelta(seconds=data.three_ds_timeout_seconds)
        await self._transition(PaymentStatus.PENDING, notify_as="payment.requires_action")
        ends = [STRIPE_EVENT, CUSTOMER_RETURNED, CANCEL]
        while intent.status == "requires_action":
            self._wait("the customer's 3-D Secure authentication", until, ends)
            timed_out = not await self._sleep_until(
                lambda: self._recheck or self._cancel is not None,
                until,
                every=timedelta(seconds=data.poll_interval_seconds),
            )
            self._recheck = False
            intent = await self._retrieve(intent.id)
            if intent.status != "requires_action":
                break
            if self._cancel is not None:
                await self._cancel_intent("canceled", "canceled", self._cancel.reason or "canceled")
            if timed_out:
                await self._cancel_intent(
                    "authentication_timeout",
                    "failed",
                    "the customer did not complete 3-D Secure in time",
                )
        self._clear_wait()
        if intent.status == "requires_payment_method":
            await self._finish_failed(
                intent.error_code or "payment_intent_authentication_failure",
                intent.error_message or "3-D Secure authentication failed",
            )
            raise _Stop()
        self._absorb(intent)
        return intent

    async def _await_approval(self) -> None:
        data = self._data
        assert data is not None
        until = workflow.now() + timedelta(seconds=data.approval_timeout_seconds)
        await self._transition(PaymentStatus.REQUIRES_APPROVAL, notify_as="payment.requires_approval")
        self._wait("a manager's approval", until, [APPROVE, REJECT, CANCEL])
        decided = await self._sleep_until(
            lambda: self._decision is not None or self._cancel is not None, until
        )
        self._clear_wait()
        if self._cancel is not None:
            await self._cancel_intent("canceled", "canceled", self._cancel.reason or "canceled")
        if not decided:
            await self._cancel_intent("approval_timeout", "failed", "no approval before the deadline")
        assert self._decision is not None
        verdict, decision = self._decision
        self.state().approval = {"decision": verdict, "by": decision.by, "reason": decision.reason}
        if verdict == REJECT:
            await self._cancel_intent(
                "approval_rejected", "failed", f"rejected by {decision.by}: {decision.reason}".rstrip(": ")
            )

    async def _await_capture(self) -> IntentView:
        data = self._data
        assert data is not None
        until = workflow.now() + timedelta(seconds=data.capture_window_seconds)
        await self._transition(PaymentStatus.REQUIRES_CAPTURE, notify_as="payment.requires_capture")
        self._wait("a capture (full or partial) or a cancel", until, [CAPTURE_UPDATE, CANCEL])
        requested = await self._sleep_until(
            lambda: self._capture_requested or self._cancel is not None, until
        )
        self._clear_wait()
        if self._cancel is not None:
            await self._cancel_intent("canceled", "canceled", self._cancel.reason or "canceled")
        if not requested:
            await self._cancel_intent(
                "authorization_expired", "canceled", "not captured within the authorisation window"
            )
        return await self._capture_now(self._capture_amount)

    async def _capture_now(self, amount_minor: int | None) -> IntentView:
        data = self._data
        assert data is not None
        state = self.state()
        assert state.payment_intent_id is not None
        shown = format_money(
            amount_minor or state.amount_capturable_minor or data.amount_minor, data.currency
        )
        try:
            intent: IntentView = await workflow.execute_activity_method(
                PaymentActivities.capture_intent,
                CaptureIntentInput(
                    merchant_id=data.merchant_id,
                    payment_intent_id=state.payment_intent_id,
                    idempotency_key=stripe_key(workflow.info().workflow_id, "capture"),
                    amount_minor=amount_minor,
                ),
                summary=f"capture {shown} on {state.payment_intent_id}",
                **STRIPE_WRITE.kwargs(),
            )
        except ActivityError as err:
            failure = _stripe_failure(err)
            if failure is None:
                raise
            self._capture_error = failure[1]
            intent = await self._retrieve(state.payment_intent_id)
            if intent.status != "succeeded":
                await self._finish_failed(*failure)
                raise _Stop() from None
        self._absorb(intent)
        return intent

    # ----------------------------------------------------------------------------- endings

    async def _finish_completed(self, intent: IntentView) -> None:
        self._absorb(intent)
        self.state().amount_captured_minor = intent.amount_received
        await self._transition(PaymentStatus.COMPLETED, notify_as="payment.completed")

    async def _finish_failed(self, code: str, reason: str) -> None:
        state = self.state()
        state.failure_code = code
        state.failure_reason = reason
        state.redirect_url = None
        await self._transition(PaymentStatus.FAILED, notify_as="payment.failed")

    async def _cancel_intent(self, code: str, status: str, reason: str) -> None:
        """Cancel the intent (releasing any hold) and end the run as failed or canceled."""
        data = self._data
        state = self.state()
        assert data is not None and state.payment_intent_id is not None
        intent: IntentView = await workflow.execute_activity_method(
            PaymentActivities.cancel_intent,
            CancelIntentInput(
                merchant_id=data.merchant_id,
                payment_intent_id=state.payment_intent_id,
                idempotency_key=stripe_key(workflow.info().workflow_id, "cancel_intent"),
                reason="requested_by_customer" if code == "canceled" else "abandoned",
            ),
            summary=f"cancel {state.payment_intent_id} ({code})",
            **STRIPE_WRITE.kwargs(),
        )
        self._clear_wait()
        if intent.status == "succeeded":  # it completed just before the cancel reached Stripe
            await self._finish_completed(intent)
            raise _Stop()
        self._absorb(intent)
        state.failure_code = code
        state.failure_reason = reason
        state.redirect_url = None
        if status == "failed":
            await self._transition(PaymentStatus.FAILED, notify_as="payment.failed")
        else:
            await self._transition(PaymentStatus.CANCELED, notify_as="payment.canceled")
        raise _Stop()

    # ----------------------------------------------------------------------------- helpers

    async def _retrieve(self, payment_intent_id: str) -> IntentView:
        data = self._data
        assert data is not None
        intent: IntentView = await workflow.execute_activity_method(
            PaymentActivities.retrieve_intent,
            IntentRef(merchant_id=data.merchant_id, payment_intent_id=payment_intent_id),
            summary=f"re-read {payment_intent_id}",
            **STRIPE_READ.kwargs(),
        )
        return intent

    async def _sleep_until(self, condition: Any, until: datetime, every: timedelta | None = None) -> bool:
        """Wait for `condition` until `until` (waking every `every` if given); False on the deadline."""
        remaining = until - workflow.now()
        if remaining <= timedelta(0):
            return bool(condition())
        timeout = min(remaining, every) if every is not None else remaining
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except TimeoutError:
            return workflow.now() < until

    def _absorb(self, intent: IntentView) -> None:
        state = self.state()
        state.payment_intent_id = intent.id
        state.amount_capturable_minor = intent.amount_capturable
        state.amount_captured_minor = intent.amount_received
        state.latest_charge_id = intent.latest_charge or state.latest_charge_id
        state.customer = intent.customer or state.customer
        state.payment_method = intent.payment_method or state.payment_method
        state.redirect_url = intent.redirect_url if intent.status == "requires_action" else None

    def _wait(self, what: str, until: datetime, ends_with: list[str]) -> None:
        self.state().waiting = Waiting(what=what, until=until, ends_with=ends_with)
        intent = self.state().payment_intent_id
        offers: dict[str, dict[str, Any] | None] = {}
        for name in ends_with:
            if name in (APPROVE, REJECT, CANCEL):
                offers[name] = EXAMPLE_DECISION
            elif name == STRIPE_EVENT and intent:
                offers[name] = recheck_example("payment_intent", intent)
        if CAPTURE_UPDATE in ends_with:  # an update, not a signal: the UI's Send Signal cannot send it
            pid = self.state().payment_id
            what += f" (capture: `billflow payments capture {pid}` or `POST /v1/payments/{pid}/capture`)"
        set_waiting(what, until, also=offers)

    def _clear_wait(self) -> None:
        self.state().waiting = None
        clear_waiting()

    async def _transition(self, status: PaymentStatus, notify_as: str | None = None) -> None:
        """Record a new status: search attribute, ledger row, the first-outcome answer, notification.

        The state (what the API shows) takes the status only once the ledger has it, so whatever a
        caller does next on what it saw (a refund, reserved against the ledger) finds it there too.
        """
        data = self._data
        state = self.state()
        assert data is not None
        set_status(status.value, customer_id=state.customer)
        await workflow.execute_activity_method(
            PaymentLedgerActivities.record_payment,
            PaymentRecord(
                state=state.model_copy(update={"status": status}),
                description=data.description,
                metadata=dict(data.metadata),
            ),
            summary=f"ledger: payment {state.payment_id} {status.value}",
            **LEDGER_WRITE.kwargs(),
        )
        state.status = status
        if notify_as is not None:
            await notify(
                MerchantEvent(
                    event_id=f"{state.workflow_id}:{notify_as}",
                    merchant_id=state.merchant_id,
                    type=notify_as,
                    data=state.model_dump(mode="json", exclude={"waiting"}),
                )
            )
        if status != PaymentStatus.PROCESSING:
            self._first_known = True
