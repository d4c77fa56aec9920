"""SaveCardWorkflow under time skipping with in-memory Stripe and ledger fakes."""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing_ledger import (
    CardRecord,
    CustomerRecord,
    FindCustomerInput,
    StoredCard,
    UserCardsInput,
)
from activities.cards import (
    CardDetails,
    CreateCustomerInput,
    DetachInput,
    PaymentMethodRef,
    SetDefaultInput,
    SetupCardInput,
    SetupIntentRef,
    SetupIntentView,
)
from billflow.signals import StripeEventSignal
from billflow.subscriptions import CARD_OUTCOME, SaveCardState
from tests.replay.history_files import record_history
from workflows.sandbox import sandboxed_runner
from workflows.save_card import SaveCardInput, SaveCardWorkflow

POOL = ThreadPoolExecutor(max_workers=4)
FINGERPRINTS = {
    "pm_card_visa": "fp_visa",
    "pm_card_threeDSecure2Required": "fp_3ds",
    "pm_card_mastercard": "fp_mc",
}


class FakeCards:
    def __init__(self) -> None:
        self.customers: dict[str, str] = {}  # idempotency key -> customer
        self.ledger_customers: dict[tuple[str, str], str] = {}
        self.cards: dict[str, CardRecord] = {}
        self.pms: dict[str, str] = {}  # concrete pm -> test token
        self.intents: dict[str, SetupIntentView] = {}
        self.defaults: list[str] = []
        self.detached: list[str] = []
        self._ids = itertools.count(1)

    @activity.defn(name="billing.find_customer")
    def find_customer(self, data: FindCustomerInput) -> str | None:
        return self.ledger_customers.get((data.merchant_id, data.user_id))

    @activity.defn(name="billing.record_customer")
    def record_customer(self, data: CustomerRecord) -> str:
        return self.ledger_customers.setdefault((data.merchant_id, data.user_id), data.stripe_customer_id)

    @activity.defn(name="billing.user_cards")
    def user_cards(self, data: UserCardsInput) -> list[StoredCard]:
        return [
            StoredCard(card=c.card, fingerprint=c.fingerprint, stripe_customer_id=c.stripe_customer_id)
            for c in self.cards.values()
            if c.user_id == data.user_id
        ]

    @activity.defn(name="billing.record_card")
    def record_card(self, data: CardRecord) -> None:
        self.cards[data.card.id] = data

    @activity.defn(name="cards.create_customer")
    async def create_customer(self, data: CreateCustomerInput) -> str:
        return self.customers.setdefault(data.idempotency_key, f"cus_{next(self._ids)}")

    @activity.defn(name="cards.setup_card")
    async def setup_card(self, data: SetupCardInput) -> SetupIntentView:
        # Like Stripe, a test token materialises a new concrete PaymentMethod each time.
        pm = f"pm_{next(self._ids)}"
        self.pms[pm] = data.payment_method_id
        needs_3ds = data.payment_method_id == "pm_card_threeDSecure2Required"
        si = SetupIntentView(
            id=f"seti_{next(self._ids)}",
            status="requires_action" if needs_3ds else "succeeded",
            payment_method_id=pm,
            redirect_url="https://hooks.example/3ds" if needs_3ds else None,
        )
        self.intents[si.id] = si
        return si

    @activity.defn(name="cards.get_setup_intent")
    async def get_setup_intent(self, data: SetupIntentRef) -> SetupIntentView:
        return self.intents[data.setup_intent_id]

    @activity.defn(name="cards.card_details")
    async def card_details(self, data: PaymentMethodRef) -> CardDetails:
        token = self.pms[data.payment_method_id]
        return CardDetails(
            payment_method_id=data.payment_method_id,
            customer_id="cus_x",
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint=FINGERPRINTS[token],
        )

    @activity.defn(name="cards.set_default")
    async def set_default(self, data: SetDefaultInput) -> None:
        self.defaults.append(data.payment_method_id)

    @activity.defn(name="cards.detach")
    async def detach(self, data: DetachInput) -> None:
        self.detached.append(data.payment_method_id)

    def activities(self) -> list[Any]:
        return [
            self.find_customer,
            self.record_customer,
            self.user_cards,
            self.record_card,
            self.create_customer,
            self.setup_card,
            self.get_setup_intent,
            self.card_details,
            self.set_default,
            self.detach,
        ]


def _worker(client: Client, tq: str, fake: FakeCards) -> Worker:
    return Worker(
        client,
        task_queue=tq,
        workflow_runner=sandboxed_runner(),
        workflows=[SaveCardWorkflow],
        activities=fake.activities(),
        activity_executor=POOL,
    )


async def _save(client: Client, tq: str, pm: str, user: str = "u1") -> tuple[str, SaveCardState]:
    wid = f"card/m1/{uuid.uuid4().hex[:8]}"
    start = WithStartWorkflowOperation(
        SaveCardWorkflow.run,
        SaveCardInput(merchant_id="m1", user_id=user, payment_method_id=pm, customer_email="ada@example.com"),
        id=wid,
        task_queue=tq,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    state = await client.execute_update_with_start_workflow(
        CARD_OUTCOME, start_workflow_operation=start, result_type=SaveCardState
    )
    return wid, state


async def test_first_card_becomes_default_and_a_twin_is_detached(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakeCards()
    async with _worker(ts_env.client, task_queue, fake):
        _, first = await _save(ts_env.client, task_queue, "pm_card_visa")
        _, again = await _save(ts_env.client, task_queue, "pm_card_visa")
        wid, other = await _save(ts_env.client, task_queue, "pm_card_mastercard")
        await record_history(ts_env.client.get_workflow_handle(wid), "save_card_second_card")
    assert first.status == "succeeded" and first.card is not None and first.card.is_default
    assert len(fake.ledger_customers) == 1 and len(set(fake.customers.values())) == 1
    assert again.status == "succeeded" and again.deduplicated and again.card == first.card
    assert fake.detached == [p for p in fake.pms if p != first.card.payment_method_id][:1]
    assert other.card is not None and not other.card.is_default and not other.deduplicated
    assert fake.defaults == [first.card.payment_method_id]
    assert len(fake.cards) == 2


async def test_three_d_secure_answers_pending_then_completes_on_the_webhook(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakeCards()
    async with _worker(ts_env.client, task_queue, fake):
        wid, pending = await _save(ts_env.client, task_queue, "pm_card_threeDSecure2Required")
        assert pending.status == "pending" and pending.redirect_url == "https://hooks.example/3ds"
        assert pending.setup_intent_id is not None
        fake.intents[pending.setup_intent_id].status = "succeeded"
        handle = ts_env.client.get_workflow_handle(wid, result_type=SaveCardState)
        await handle.signal(
            SaveCardWorkflow.stripe_event,
            StripeEventSignal(
                event_id="evt_1",
                type="setup_intent.succeeded",
                object_type="setup_intent",
                object_id=pending.setup_intent_id,
            ),
        )
        done = await handle.result()
    assert done.status == "succeeded" and done.card is not None and done.card.is_default


async def test_abandoned_three_d_secure_expires(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakeCards()
    async with _worker(ts_env.client, task_queue, fake):
        wid, pending = await _save(ts_env.client, task_queue, "pm_card_threeDSecure2Required")
        await ts_env.sleep(timedelta(minutes=45))  # past the 30-minute 3-D Secure deadline
        done = await ts_env.client.get_workflow_handle(wid).query(SaveCardWorkflow.state)
    assert pending.status == "pending"
    assert done.status == "expired" and done.card is None and fake.cards == {}
