"""Run-time fault injection: 500s, 429s, latency, commit-then-drop, webhook chaos, rate limits."""

from __future__ import annotations

import fnmatch
import random
import time
from collections import Counter

from pydantic import BaseModel, Field


class EndpointFault(BaseModel):
    """Faults for requests matching ``method`` and ``path`` (fnmatch patterns, ``*`` = any)."""

    method: str = "*"
    path: str = "*"
    error_500_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_429_rate: float = Field(default=0.0, ge=0, le=1)
    should_retry: bool | None = True
    latency_ms: int = Field(default=0, ge=0)
    drop_after_commit_rate: float = Field(default=0.0, ge=0, le=1)

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)


class WebhookFaults(BaseModel):
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    delay_ms: int = Field(default=0, ge=0)
    delay_rate: float = Field(default=0.0, ge=0, le=1)
    reorder_rate: float = Field(default=0.0, ge=0, le=1)
    loss_rate: float = Field(default=0.0, ge=0, le=1)


class FaultConfig(BaseModel):
    """What ``POST /_emulator/faults`` accepts."""

    seed: int | None = None
    endpoints: list[EndpointFault] = Field(default_factory=list)
    webhooks: WebhookFaults = Field(default_factory=lambda: WebhookFaults())
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    rate_limit_burst: float | None = Field(default=None, gt=0)


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class FaultInjector:
    """Holds the active :class:`FaultConfig` and draws reproducible decisions from it."""

    def __init__(self) -> None:
        self.config = FaultConfig()
        self.rng = random.Random()
        self.buckets: dict[str, TokenBucket] = {}
        # How often each named fault fired since the last reset (kept across reconfiguration).
        self.injected: Counter[str] = Counter()

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.buckets.clear()

    def clear(self) -> None:
        self.configure(FaultConfig())

    @property
    def active(self) -> bool:
        cfg = self.config
        return bool(cfg.endpoints) or cfg.rate_limit_per_second is not None

    def endpoint(self, method: str, path: str) -> EndpointFault | None:
        for fault in self.config.endpoints:
            if fault.matches(method, path):
                return fault
        return None

    def roll(self, rate: float, name: str | None = None) -> bool:
        """Draw whether a fault fires; a named one that fires is counted in `injected`."""
        fired = rate > 0 and self.rng.random() < rate
        if fired and name is not None:
            self.injected[name] += 1
        return fired

    def allow(self, api_key: str) -> bool:
        rate = self.config.rate_limit_per_second
        if rate is None:
            return True
        bucket = self.buckets.get(api_key)
        if bucket is None:
            bucket = TokenBucket(rate, self.config.rate_limit_burst or rate)
            self.buckets[api_key] = bucket
        return bucket.take()
