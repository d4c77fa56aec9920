"""Accounts (one per secret key), their objects, events, and list pagination."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stripe_emulator.clock import EmulatorClock
from stripe_emulator.errors import resource_missing, validation
from stripe_emulator.ids import IdGenerator
from stripe_emulator.shapes import SHAPES

Obj = dict[str, Any]
API_VERSION = "2026-10-28.endive"


def new_object(kind: str) -> Obj:
    """A fresh object of ``kind`` with every field at its neutral default."""
    # Shape defaults are scalars or empty containers, so one level of copying suffices.
    return {k: v.copy() if isinstance(v, dict | list) else v for k, v in SHAPES[kind].items()}


def snapshot(value: Any) -> Any:
    """A deep copy without internal ``_`` keys (``public`` builds new containers)."""
    return public(value)


def public(value: Any) -> Any:
    """Deep copy of ``value`` dropping keys that start with ``_``."""
    if type(value) is dict:
        return {k: public(v) if type(v) in (dict, list) else v for k, v in value.items() if k[:1] != "_"}
    if type(value) is list:
        return [public(v) if type(v) in (dict, list) else v for v in value]
    return value


@dataclass
class AuditEntry:
    kind: str  # "charge" | "capture" | "refund"
    object_id: str
    payment_intent: str | None
    amount: int
    currency: str
    idempotency_key: str | None
    request_id: str | None
    created: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class IdempotencyRecord:
    method: str
    path: str
    params_digest: str
    created: int
    status: int | None = None  # None while the first request is still in flight
    body: bytes | None = None


@dataclass
class Account:
    api_key: str
    id: str
    objects: dict[str, Obj] = field(default_factory=dict)
    by_kind: dict[str, list[str]] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        self.by_kind.setdefault(obj["object"], []).append(obj["id"])
        return obj

    def remove(self, obj_id: str) -> None:
        obj = self.objects.pop(obj_id, None)
        if obj is not None:
            ids = self.by_kind.get(obj["object"], [])
            if obj_id in ids:
                ids.remove(obj_id)

    def find(self, obj_id: str) -> Obj | None:
        return self.objects.get(obj_id)

    def get(self, kind: str, obj_id: Any, *, label: str | None = None, param: str = "id") -> Obj:
        if not isinstance(obj_id, str) or not obj_id:
            raise validation(f"Invalid {label or kind} id", param=param)
        obj = self.objects.get(obj_id)
        if obj is None or obj["object"] != kind:
            raise resource_missing(label or kind, obj_id, param)
        return obj

    def of_kind(self, kind: str) -> Iterable[Obj]:
        """Objects of ``kind``, newest first."""
        objects = self.objects
        for obj_id in reversed(self.by_kind.get(kind, [])):
            obj = objects.get(obj_id)
            if obj is not None:
                yield obj

    def next_counter(self, name: str) -> int:
        value = self.counters.get(name, 0) + 1
        self.counters[name] = value
        return value


class Store:
    """All accounts plus the shared clock and id generator."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.ids = IdGenerator(seed)
        self.request_ids = IdGenerator()  # separate, so reads never shift seeded object ids
        self.clock = EmulatorClock()
        self.accounts: dict[str, Account] = {}
        self.event_sink: Callable[[Account, Obj], None] | None = None

    def reset(self) -> None:
        self.accounts.clear()
        self.ids.reseed(self.seed)
        self.clock.offset = 0.0

    def account(self, api_key: str) -> Account:
        acct = self.accounts.get(api_key)
        if acct is None:
            digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
            acct = Account(api_key=api_key, id=f"acct_{digest}")
            self.accounts[api_key] = acct
        return acct

    def find_anywhere(self, obj_id: str) -> tuple[Account, Obj] | None:
        for acct in self.accounts.values():
            obj = acct.objects.get(obj_id)
            if obj is not None:
                return acct, obj
        return None

    # -- persistence -------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        accounts = []
        for acct in self.accounts.values():
            accounts.append(
                {
                    "api_key": acct.api_key,
                    "id": acct.id,
                    "objects": acct.objects,
                    "by_kind": acct.by_kind,
                    "fingerprints": acct.fingerprints,
                    "counters": acct.counters,
                    "audit": [a.to_dict() for a in acct.audit],
                    "idempotency": {
                        key: {
                            "method": rec.method,
                            "path": rec.path,
                            "params_digest": rec.params_digest,
                            "created": rec.created,
                            "status": rec.status,
                            "body": rec.body.decode() if rec.body is not None else None,
                        }
                        for key, rec in acct.idempotency.items()
                        if rec.status is not None
                    },
                }
            )
        return {"version": 1, "clock_offset": self.clock.offset, "accounts": accounts}

    def load(self, data: dict[str, Any]) -> None:
        self.accounts.clear()
        self.clock.offset = float(data.get("clock_offset", 0.0))
        for raw in data.get("accounts", []):
            acct = Account(api_key=raw["api_key"], id=raw["id"])
            acct.objects = raw["objects"]
            acct.by_kind = raw["by_kind"]
            acct.fingerprints = raw["fingerprints"]
            acct.counters = raw["counters"]
            acct.audit = [AuditEntry(**a) for a in raw["audit"]]
            for key, rec in raw["idempotency"].items():
                acct.idempotency[key] = IdempotencyRecord(
                    method=rec["method"],
                    path=rec["path"],
                    params_digest=rec["params_digest"],
                    created=rec["created"],
                    status=rec["status"],
                    body=rec["body"].encode() if rec["body"] is not None else None,
                )
            self.accounts[acct.api_key] = acct
