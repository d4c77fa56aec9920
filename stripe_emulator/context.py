"""Per-request context handed to resource handlers: account, time, ids, events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_emulator.store import API_VERSION, Account, Obj, Store, new_object, snapshot


@dataclass
class Ctx:
    store: Store
    account: Account
    base_url: str
    request_id: str | None = None
    idempotency_key: str | None = None

    @property
    def now(self) -> int:
        return self.store.clock.now()

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.store.ids.new(prefix, length)

    def time_for_customer(self, customer_id: Any) -> int:
        """Frozen time of the customer's test clock, else emulator time."""
        if isinstance(customer_id, str):
            cus = self.account.objects.get(customer_id)
            if cus is not None and isinstance(cus.get("test_clock"), str):
                clock = self.account.objects.get(cus["test_clock"])
                if clock is not None:
                    return int(clock["frozen_time"])
        return self.now

    def emit(
        self,
        event_type: str,
        obj: Obj,
        previous: dict[str, Any] | None = None,
        *,
        automatic: bool = False,
    ) -> Obj:
        """Record an event (and hand it to webhook delivery)."""
        event = new_object("event")
        event["id"] = self.new_id("evt")
        event["api_version"] = API_VERSION
        event["created"] = self.now
        event["type"] = event_type
        data: dict[str, Any] = {"object": snapshot(obj)}
        if previous is not None:
            data["previous_attributes"] = snapshot(previous)
        event["data"] = data
        if automatic:
            event["request"] = {"id": None, "idempotency_key": None}
        else:
            event["request"] = {"id": self.request_id, "idempotency_key": self.idempotency_key}
        event["pending_webhooks"] = 0
        self.account.add(event)
        sink = self.store.event_sink
        if sink is not None:
            sink(self.account, event)
        return event

    def emit_update(self, event_type: str, obj: Obj, before: dict[str, Any]) -> None:
        """Emit ``*.updated`` with ``previous_attributes`` = fields that changed."""
        previous = {k: v for k, v in before.items() if obj.get(k) != v}
        if previous:
            self.emit(event_type, obj, previous)
