"""Per-account request counters by HTTP status, so benchmarks can count 429s and achieved rates."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AccountStats:
    by_status: Counter[int] = field(default_factory=Counter)
    first_at: float | None = None
    last_at: float | None = None

    def record(self, status: int) -> None:
        now = time.time()
        self.by_status[status] += 1
        self.first_at = self.first_at or now
        self.last_at = now

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_status.values()),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


class RequestStats:
    def __init__(self) -> None:
        self.accounts: dict[str, AccountStats] = {}

    def record(self, key: str, status: int) -> None:
        self.accounts.setdefault(key, AccountStats()).record(status)

    def of(self, key: str) -> dict[str, Any]:
        return self.accounts.get(key, AccountStats()).to_dict()

    def clear(self) -> None:
        self.accounts.clear()
