"""SaveCardWorkflow: customer, SetupIntent (+ 3-D Secure), fingerprint de-duplication, default card.

Short-lived; started with update-with-start (`outcome` update) so the HTTP response carries the
saved card, or `pending` with the 3-D Secure redirect URL. CardCommandWorkflow runs the two card
commands (make default, detach) as retried, idempotent activities.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.billing_ledger import (
        BillingLedger,
        CardRecord,
        CardRef,
        CustomerRecord,
        FindCustomerInput,
        UserCardsInput,
    )
    from activities.cards import (
        CardActivities,
        CreateCustomerInput,
        DetachInput,
        PaymentMethodRef,
        SetDefaultInput,
        SetupCardInput,
        SetupIntentRef,
        SetupIntentView,
    )
    from billflow.idempotency import stripe_key
    from billflow.policies import LEDGER_WRITE, STRIPE_READ, STRIPE_WRITE
    from billflow.signals import STATE_QUERY, STRIPE_EVENT, StripeEventSignal
    from billflow.subscriptions import CARD_OUTCOME, CardView, SaveCardState, card_id
    from workflows.common import (
        StripeEventBatches,
        clear_waiting,
        recheck_example,
        set_status,
        set_waiting,
        static_details,
    )

FINAL = ("succeeded", "failed", "expired")


class SaveCardInput(BaseModel):
    merchant_id: str
    user_id: str
    payment_method_id: str
    customer_email: str | None = None
    customer_name: str | None = None
    return_url: str | None = None
    test_clock: str | None = None  # tests only: create the customer on this Stripe test clock
    action_timeout_minutes: int = 30
    poll_seconds: int = 60


def save_card_details(data: SaveCardInput) -> str:
    """The run's static details (no email or name: those stay in the encrypted payloads)."""
    return static_details(
        ("Merchant", data.merchant_id),
        ("User", data.user_id),
        ("Payment method", data.payment_method_id),
        (
            "3-D Secure",
            f"waits up to {data.action_timeout_minutes} minutes, polling every {data.poll_seconds} s",
        ),
    )


def customer_key_root(merchant_id: str, user_id: str) -> str:
    """Creating a user's customer is keyed by merchant and user, so two saves never make two customers."""
    return f"customer/{merchant_id}/{user_id}"


@workflow.defn
class SaveCardWorkflow(StripeEventBatches):
    @workflow.init
    def __init__(self, data: SaveCardInput) -> None:
        self._in = data
        self._wid = workflow.info().workflow_id
        self._state = SaveCardState()
        self._events: list[StripeEventSignal] = []

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, event: StripeEventSignal) -> None:
        self._events.append(event)

    @workflow.query(name=STATE_QUERY)
    def state(self) -> SaveCardState:
        return self._state

    @workflow.update(name=CARD_OUTCOME)
    async def outcome(self) -> SaveCardState:
        """Answers once the card is saved or failed, or 3-D Secure is pending (with its redirect URL)."""
        await workflow.wait_condition(lambda: self._state.status in (*FINAL, "pending"))
        return self._state

    @workflow.run
    async def run(self, data: SaveCardInput) -> SaveCardState:
        try:
            await self._save()
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError):
                raise
            self._state.error_code = cause.type
            self._state.error_message = cause.message
            self._set("failed")
        clear_waiting()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    def _set(self, status: str) -> None:
        self._state.status = status
        set_status(status, customer_id=self._state.stripe_customer_id)

    async def _save(self) -> None:
        d, s = self._in, self._state
        customer = await workflow.execute_activity_method(
            BillingLedger.find_customer,
            FindCustomerInput(merchant_id=d.merchant_id, user_id=d.user_id),
            summary=f"find customer of user {d.user_id}",
            **LEDGER_WRITE.kwargs(),
        )
        if customer is None:
            created = await workflow.execute_activity_method(
                CardActivities.create_customer,
                CreateCustomerInput(
                    merchant_id=d.merchant_id,
                    user_id=d.user_id,
                    email=d.customer_email,
                    name=d.customer_name,
                    test_clock=d.test_clock,
                    idempotency_key=stripe_key(
                        customer_key_root(d.merchant_id, d.user_id), "create_customer"
                    ),
                ),
                summary=f"create customer for user {d.user_id}",
                **STRIPE_WRITE.kwargs(),
            )
            customer = await workflow.execute_activity_method(
                BillingLedger.record_customer,
                CustomerRecord(
                    merchant_id=d.merchant_id,
                    user_id=d.user_id,
                    stripe_customer_id=created,
                    email=d.customer_email,
                    name=d.customer_name,
                ),
                summary=f"ledger customer {created}",
                **LEDGER_WRITE.kwargs(),
            )
        s.stripe_customer_id = customer
        si = await workflow.execute_activity_method(
            CardActivities.setup_card,
            SetupCardInput(
                merchant_id=d.merchant_id,
                workflow_id=self._wid,
                customer_id=customer,
                payment_method_id=d.payment_method_id,
                return_url=d.return_url,
                idempotency_key=stripe_key(self._wid, "setup_intent"),
            ),
            summary=f"set up {d.payment_method_id} for {customer}",
            **STRIPE_WRITE.kwargs(),
        )
        s.setup_intent_id = si.id
        if si.status == "requires_action":
            si = await self._authenticate(si)
        if si.status != "succeeded" or si.payment_method_id is None:
            s.error_code = si.error_code or si.status
            s.error_message = si.error_message
            self._set("expired" if si.status == "requires_action" else "failed")
            return
        await self._keep(customer, si.payment_method_id)

    async def _authenticate(self, si: SetupIntentView) -> SetupIntentView:
        """Wait for the 3-D Secure outcome: a webhook wakes us, a poll is the fallback."""
        s = self._state
        s.redirect_url = si.redirect_url
        self._set("pending")
        until = workflow.now() + timedelta(minutes=self._in.action_timeout_minutes)
        while si.status == "requires_action" and workflow.now() < until:
            set_waiting(
                f"the customer's 3-D Secure of {si.id}",
                until,
                STRIPE_EVENT,
                recheck_example("setup_intent", si.id),
            )
            poll = min(timedelta(seconds=self._in.poll_seconds), until - workflow.now())
            try:
                await workflow.wait_condition(
                    lambda: bool(self._events), timeout=max(poll, timedelta(seconds=1))
                )
            except TimeoutError:
                pass
            self._events.clear()
            si = await workflow.execute_activity_method(
                CardActivities.get_setup_intent,
                SetupIntentRef(merchant_id=self._in.merchant_id, setup_intent_id=si.id),
                summary=f"read {si.id}",
                **STRIPE_READ.kwargs(),
            )
        return si

    async def _keep(self, customer: str, pm_id: str) -> None:
        """De-duplicate by fingerprint, make the first card the default, record it."""
        d, s = self._in, self._state
        details = await workflow.execute_activity_method(
            CardActivities.card_details,
            PaymentMethodRef(merchant_id=d.merchant_id, payment_method_id=pm_id),
            summary=f"read card {pm_id}",
            **STRIPE_READ.kwargs(),
        )
        cards = await workflow.execute_activity_method(
            BillingLedger.user_cards,
            UserCardsInput(merchant_id=d.merchant_id, user_id=d.user_id),
            summary=f"saved cards of {d.user_id}",
            **LEDGER_WRITE.kwargs(),
        )
        twin = next(
            (
                c
                for c in cards
                if details.fingerprint
                and c.fingerprint == details.fingerprint
                and c.card.payment_method_id != pm_id
            ),
            None,
        )
        if twin is not None:
            await workflow.execute_activity_method(
                CardActivities.detach,
                DetachInput(
                    merchant_id=d.merchant_id,
                    payment_method_id=pm_id,
                    idempotency_key=stripe_key(self._wid, "detach_twin"),
                ),
                summary=f"detach {pm_id}, a twin of {twin.card.payment_method_id}",
                **STRIPE_WRITE.kwargs(),
            )
            s.card, s.deduplicated = twin.card, True
            self._set("succeeded")
            return
        is_default = not any(c.card.payment_method_id != pm_id for c in cards)
        if is_default:
            await workflow.execute_activity_method(
                CardActivities.set_default,
                SetDefaultInput(
                    merchant_id=d.merchant_id,
                    customer_id=customer,
                    payment_method_id=pm_id,
                    idempotency_key=stripe_key(self._wid, "set_default"),
                ),
                summary=f"default card {pm_id} for {customer}",
                **STRIPE_WRITE.kwargs(),
            )
        card = CardView(
            id=card_id(d.merchant_id, pm_id),
            payment_method_id=pm_id,
            brand=details.brand,
            last4=details.last4,
            exp_month=details.exp_month,
            exp_year=details.exp_year,
            is_default=is_default,
        )
        await workflow.execute_activity_method(
            BillingLedger.record_card,
            CardRecord(
                merchant_id=d.merchant_id,
                user_id=d.user_id,
                stripe_customer_id=customer,
                fingerprint=details.fingerprint,
                card=card,
            ),
            summary=f"ledger card {card.id}",
            **LEDGER_WRITE.kwargs(),
        )
        s.card = card
        self._set("succeeded")


class CardCommandInput(BaseModel):
    merchant_id: str
    user_id: str
    customer_id: str
    card: CardView
    fingerprint: str | None = None
    action: Literal["set_default", "detach"]


@workflow.defn
class CardCommandWorkflow:
    """Make a saved card the default, or detach it; one run per request (id from its Idempotency-Key)."""

    @workflow.run
    async def run(self, data: CardCommandInput) -> CardView:
        wid = workflow.info().workflow_id
        pm = data.card.payment_method_id
        if data.action == "set_default":
            await workflow.execute_activity_method(
                CardActivities.set_default,
                SetDefaultInput(
                    merchant_id=data.merchant_id,
                    customer_id=data.customer_id,
                    payment_method_id=pm,
                    idempotency_key=stripe_key(wid, "set_default"),
                ),
                summary=f"default card {pm} for {data.customer_id}",
                **STRIPE_WRITE.kwargs(),
            )
            card = data.card.model_copy(update={"is_default": True})
            await workflow.execute_activity_method(
                BillingLedger.record_card,
                CardRecord(
                    merchant_id=data.merchant_id,
                    user_id=data.user_id,
                    stripe_customer_id=data.customer_id,
                    fingerprint=data.fingerprint,
                    card=card,
                ),
                summary=f"ledger default card {card.id}",
                **LEDGER_WRITE.kwargs(),
            )
            return card
        await workflow.execute_activity_method(
            CardActivities.detach,
            DetachInput(
                merchant_id=data.merchant_id, payment_method_id=pm, idempotency_key=stripe_key(wid, "detach")
            ),
            summary=f"detach {pm}",
            **STRIPE_WRITE.kwargs(),
        )
        await workflow.execute_activity_method(
            BillingLedger.deactivate_card,
            CardRef(merchant_id=data.merchant_id, card_id=data.card.id),
            summary=f"ledger deactivate {data.card.id}",
            **LEDGER_WRITE.kwargs(),
        )
        return data.card.model_copy(update={"is_default": False})
