"""Signal payloads shared by every flow, so the UI's Send Signal dialog takes the same JSON everywhere.

Signal names: `approve` / `reject` (Decision), `cancel` (Decision), `stripe_event` (StripeEventSignal,
sent by the webhook endpoint and the polling sweeper), `stripe_events` (StripeEventBatch: the webhook
endpoint's several events for one workflow in one signal); the query `state` returns the flow's state.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

APPROVE = "approve"
REJECT = "reject"
CANCEL = "cancel"
STRIPE_EVENT = "stripe_event"
STRIPE_EVENTS = "stripe_events"
STATE_QUERY = "state"


class Decision(BaseModel):
    """Who decided and why: `{"by": "alice@example.com", "reason": "checked with the customer"}`."""

    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)


class StripeEventSignal(BaseModel):
    """A Stripe event routed to the workflow named in its object's metadata.

    Only ids and the type travel: the woken workflow re-reads the object from Stripe, since events
    arrive late, twice and out of order.
    """

    event_id: str
    type: str
    object_type: str
    object_id: str


class StripeEventBatch(BaseModel):
    """Events for one workflow that reached the webhook endpoint together, delivered as one signal.

    Stripe sends several events per object change at once (payment_intent.succeeded, charge.succeeded,
    ...): one signal for them costs the Temporal server one history write and one workflow task
    instead of one per event. Each flow applies them exactly as if they came one by one.
    """

    events: list[StripeEventSignal] = Field(min_length=1, max_length=1000)
