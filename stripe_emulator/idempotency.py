"""Idempotency keys as Stripe applies them: per account, replay, mismatch, in-flight, expiry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.store import Account, IdempotencyRecord

KEY_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


@dataclass
class Replay:
    status: int
    body: bytes


def digest(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def begin(
    acct: Account, key: str, method: str, path: str, params_digest: str, now: int
) -> Replay | None:
    """Claim ``key`` for this request, or return the stored response to replay.

    Raises 400 ``idempotency_error`` on a parameter/endpoint mismatch and 409
    ``idempotency_key_in_use`` while the first request is still executing.
    """
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(
            400,
            "invalid_request_error",
            f"Invalid Idempotency-Key: must be at most {MAX_KEY_LENGTH} characters.",
            param="Idempotency-Key",
            stored=False,
        )
    rec = acct.idempotency.get(key)
    if rec is not None and rec.created + KEY_TTL_SECONDS <= now:
        del acct.idempotency[key]
        rec = None
    if rec is None:
        acct.idempotency[key] = IdempotencyRecord(method, path, params_digest, now)
        return None
    if rec.status is None:
        raise StripeError(
            409,
            "idempotency_error",
            "There is currently another in-progress request using this idempotent key (that "
            f"probably means you submitted twice, and the other request is still going through): "
            f"{key}. Please try again later.",
            code="idempotency_key_in_use",
            stored=False,
        )
    if (rec.method, rec.path) != (method, path):
        raise StripeError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used for the same endpoint they were first "
            f"used for ('{rec.method} {rec.path}' vs '{method} {path}'). Try using a key other "
            f"than '{key}' if you meant to execute a different request.",
            stored=False,
        )
    if rec.params_digest != params_digest:
        raise StripeError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
            stored=False,
        )
    assert rec.body is not None
    return Replay(rec.status, rec.body)


def finish(acct: Account, key: str, status: int, body: bytes) -> None:
    rec = acct.idempotency.get(key)
    if rec is not None:
        rec.status = status
        rec.body = body


def abandon(acct: Account, key: str) -> None:
    """Forget a claimed key whose request was rejected before execution."""
    rec = acct.idempotency.get(key)
    if rec is not None and rec.status is None:
        del acct.idempotency[key]


def prune(acct: Account, now: int) -> None:
    stale = [k for k, r in acct.idempotency.items() if r.status is not None and r.created + KEY_TTL_SECONDS <= now]
    for k in stale:
        del acct.idempotency[k]
