"""Per-account request counters by HTTP status, so benchmarks can count 429s and achieved rates."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Object ids in paths (pi_…, cus_…, in_…) become {id}, so routes count as one each. Ids have a
# short prefix and a long random tail; resource names (payment_intents, test_helpers) do not.
_ID = re.compile(r"/[a-z]{2,6}_[A-Za-z0-9]{8,}(?=/|$)")


def route_of(method: str, path: str) -> str:
    return f"{method} {_ID.sub('/{id}', path)}"


@dataclass
class AccountStats:
    by_status: Counter[int] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    first_at: float | None = None
    last_at: float | None = None

    def record(self, status: int, route: str = "") -> None:
        now = time.time()
        self.by_status[status] += 1
        if route:
            self.by_route[route] += 1
        self.first_at = self.first_at or now
        self.last_at = now

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_status.values()),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_route": dict(self.by_route.most_common()),
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


class RequestStats:
    def __init__(self) -> None:
        self.accounts: dict[str, AccountStats] = {}

    def record(self, key: str, status: int, route: str = "") -> None:
        self.accounts.setdefault(key, AccountStats()).record(status, route)

    def of(self, key: str) -> dict[str, Any]:
        return self.accounts.get(key, AccountStats()).to_dict()

    def forget(self, key: str) -> None:
        """Start this account's counts afresh (a benchmark measures its own window)."""
        self.accounts.pop(key, None)

    def clear(self) -> None:
        self.accounts.clear()
