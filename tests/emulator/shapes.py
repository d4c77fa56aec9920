"""Checks that emulator objects match the SDK's typed classes and Stripe's fixture shapes."""

from __future__ import annotations

import json
import os
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

import stripe
from stripe._stripe_object import StripeObject

# Fields present in fixtures3.json that the emulator deliberately leaves out.
FIXTURE_EXCEPTIONS: dict[str, set[str]] = {
    "invoice": {"subscription"},  # removed in basil; SDK 16 has no top-level invoice.subscription
    "charge": {"refunds"},  # includable since 2022-11-15
}


def fixtures_path() -> Path:
    env = os.environ.get("BILLFLOW_STRIPE_FIXTURES")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "stripe" / "fixtures3.json"


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    path = fixtures_path()
    if not path.exists():
        raise AssertionError(f"Stripe fixtures not found at {path} (set BILLFLOW_STRIPE_FIXTURES)")
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())["resources"]
    return data


def class_annotations(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        out.update(getattr(base, "__annotations__", {}))
    return out


def _literals(annotation: Any) -> set[str] | None:
    """Literal string values allowed by ``annotation`` (None when unconstrained)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {str(a) for a in typing.get_args(annotation)}
    if origin in (typing.Union, types.UnionType):
        found: set[str] = set()
        for arg in typing.get_args(annotation):
            lit = _literals(arg)
            if lit:
                found |= lit
        return found or None
    return None


def _inner_classes(annotation: Any) -> list[type[StripeObject]]:
    if isinstance(annotation, type) and issubclass(annotation, StripeObject):
        return [annotation]
    out: list[type[StripeObject]] = []
    for arg in typing.get_args(annotation):
        out.extend(_inner_classes(arg))
    return out


def check_object(obj: Any, path: str = "$") -> None:
    """Recursively check an SDK object returned by the emulator."""
    if isinstance(obj, stripe.ListObject):
        for i, item in enumerate(obj.data):
            check_object(item, f"{path}.data[{i}]")
        return
    if not isinstance(obj, StripeObject):
        return
    raw = obj.to_dict()
    kind = raw.get("object") if isinstance(raw.get("object"), str) else None
    cls = type(obj)
    ann = class_annotations(cls)
    if kind is not None and cls is not StripeObject:
        extra = set(raw) - set(ann) - {"object", "id", "deleted"}
        assert not extra, f"{path} ({kind}): fields unknown to SDK {cls.__name__}: {sorted(extra)}"
        if not raw.get("deleted") and kind in fixtures():
            expected = set(fixtures()[kind]) - FIXTURE_EXCEPTIONS.get(kind, set())
            missing = expected - set(raw)
            assert not missing, f"{path} ({kind}): missing fixture fields {sorted(missing)}"
        if kind == "invoice":
            for removed in ("payment_intent", "charge", "paid", "subscription", "paid_out_of_band"):
                assert removed not in raw, f"{path}: basil-removed invoice.{removed} present"
        if kind in ("payment_intent", "charge"):
            assert "invoice" not in raw and "charges" not in raw, f"{path}: removed field present"
        if kind == "subscription":
            assert "current_period_start" not in raw and "current_period_end" not in raw
    elif cls is StripeObject:
        return
    for key, value in raw.items():
        annotation = ann.get(key)
        if annotation is None or isinstance(annotation, str):
            continue
        if isinstance(value, str):
            allowed = _literals(annotation)
            if allowed and key in (
                "status",
                "type",
                "capture_method",
                "usage",
                "collection_method",
                "billing_reason",
                "code",
            ):
                assert value in allowed, f"{path}.{key}={value!r} not in SDK Literal {sorted(allowed)}"
        child = getattr(obj, key, None) if key in obj else None
        if isinstance(child, stripe.ListObject | StripeObject):
            inner = _inner_classes(annotation)
            child_raw = child.to_dict() if isinstance(child, StripeObject) else {}
            if type(child) is StripeObject and inner and "object" not in child_raw:
                inner_ann = class_annotations(inner[0])
                if inner_ann:
                    unknown = set(child_raw) - set(inner_ann)
                    assert not unknown, (
                        f"{path}.{key}: fields unknown to SDK {inner[0].__qualname__}: {sorted(unknown)}"
                    )
            check_object(child, f"{path}.{key}")
        elif isinstance(child, list):
            for i, item in enumerate(child):
                check_object(item, f"{path}.{key}[{i}]")
