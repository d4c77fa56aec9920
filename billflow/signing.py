"""Signatures on the notifications billflow sends merchants (`Billflow-Signature` header).

Header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the signing secret>`.
A receiver recomputes the HMAC over the raw bytes it received, compares it in constant time and
refuses timestamps older than its tolerance (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Billflow-Signature"
SECRET_PREFIX = "bfwhsec_"
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
    """The signature header is missing, malformed, wrong or too old."""


def new_secret() -> str:
    """A fresh signing secret for a merchant's webhook endpoint."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _mac(payload: bytes, secret: str, ts: int) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, ts: int) -> str:
    """The header value for `payload` sent at unix time `ts`."""
    return f"t={ts},v1={_mac(payload, secret, ts)}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> int:
    """Check a header against the raw body; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("signature header has no valid timestamp") from None
    expected = _mac(payload, secret, ts)
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise SignatureError("signature does not match the payload")
    current = int(time.time()) if now is None else now
    if tolerance > 0 and abs(current - ts) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance")
    return ts
