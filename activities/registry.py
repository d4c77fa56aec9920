"""The one list of activities the worker registers, built from shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities import hello, notify
from activities.deps import Deps
from activities.reconcile import ReconcileActivities

__all__ = ["Deps", "all_activities"]


def all_activities(deps: Deps) -> list[Callable[..., Any]]:
    """Every activity, as plain functions or methods bound to classes built from `deps`."""
    reconcile = ReconcileActivities(deps)
    return [
        hello.greet,
        *notify.notify_activities(deps.settings, deps.ledger),
        reconcile.list_merchants,
        reconcile.reconcile_merchant,
        reconcile.sweep_stuck_runs,
    ]
