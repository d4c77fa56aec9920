"""The emulator's own notion of "now": wall time plus an adjustable offset."""

from __future__ import annotations

import time


class EmulatorClock:
    """Wall-clock seconds shifted by ``offset``; tests advance it to expire idempotency keys."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> int:
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> int:
        self.offset += seconds
        return self.now()
