"""Group commit for the Stripe webhook table: many deliveries, one transaction.

Every delivery writes twice (store the event once, then its routing outcome). One transaction
per write made the database commit and the hop to a worker thread the largest cost of a delivery.
Here concurrent deliveries queue their writes and a single flusher writes everything waiting in
one statement and one commit, while the next batch gathers. Under no load a batch is one row and
nothing waits; under load the commits per delivery fall with the concurrency.

Semantics are those of one row at a time: each event id is inserted at most once (a duplicate in
the same batch, or one already stored, reports the stored row's status), and a delivery is
acknowledged only after its own write committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Table, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from billflow.ledger import WebhookEvent, utcnow
from billflow.ledger.db import Ledger
from starter.batching import Batcher

_EVENTS: Table = WebhookEvent.__table__  # type: ignore[assignment]
MAX_BATCH = 256


@dataclass(frozen=True)
class Stored:
    """What storing one delivery found: whether this delivery inserted the row, else the row's state."""

    inserted: bool
    status: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    event_id: str
    status: str
    error: str | None


class WebhookInbox:
    """Stores deliveries and their outcomes for the webhook route, batching concurrent writes."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._store = Batcher[dict[str, Any], Stored](
            lambda _, rows: run_in_threadpool(self._store_rows, rows), MAX_BATCH
        )
        self._finish = Batcher[Outcome, None](
            lambda _, outcomes: run_in_threadpool(self._finish_rows, outcomes), MAX_BATCH
        )

    async def store(self, values: dict[str, Any]) -> Stored:
        """Insert the event unless its id is stored already (then say what the stored row holds)."""
        return await self._store.submit(values)

    async def finish(self, event_id: str, status: str, error: str | None) -> None:
        await self._finish.submit(Outcome(event_id, status, error))

    def _store_rows(self, rows: list[dict[str, Any]]) -> list[Stored]:
        first = {row["stripe_event_id"]: row for row in reversed(rows)}  # an id's first delivery
        with self._ledger.engine.begin() as conn:
            inserted = _insert_new(conn, list(first.values()))
            # Every delivery that did not insert its row (older rows, repeats in this batch) reads it.
            others = {row["stripe_event_id"] for row in rows if first[row["stripe_event_id"]] is not row}
            lookup = (set(first) - inserted) | others
            existing = _existing(conn, sorted(lookup)) if lookup else {}
        results = []
        for row in rows:
            eid = row["stripe_event_id"]
            if eid in inserted and first[eid] is row:
                results.append(Stored(inserted=True))
            else:
                status, received_at = existing[eid]
                results.append(Stored(inserted=False, status=status, received_at=received_at))
        return results

    def _finish_rows(self, outcomes: list[Outcome]) -> list[None]:
        groups: dict[tuple[str, str | None], list[str]] = {}
        for outcome in outcomes:
            groups.setdefault((outcome.status, outcome.error), []).append(outcome.event_id)
        now = utcnow()
        with self._ledger.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The events themselves were committed durably before signalling; if a crash loses
                # this status update the rows stay `received` and Stripe's next redelivery re-routes
                # them: at worst one more signal, which workflows tolerate (they re-read Stripe).
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            for (status, error), ids in groups.items():
                conn.execute(
                    update(_EVENTS)
                    .where(_EVENTS.c.stripe_event_id.in_(ids))
                    .values(status=status, error=error, processed_at=now)
                )
        return [None] * len(outcomes)


def _insert_new(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows whose event id is new; RETURNING (not rowcount) names the ones inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(_EVENTS)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(_EVENTS.c.stripe_event_id)
    )
    return set(conn.execute(stmt).scalars())


def _existing(conn: Connection, event_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
    rows = conn.execute(
        select(_EVENTS.c.stripe_event_id, _EVENTS.c.status, _EVENTS.c.received_at).where(
            _EVENTS.c.stripe_event_id.in_(event_ids)
        )
    )
    return {row.stripe_event_id: (row.status, row.received_at) for row in rows}
