"""API keys: generation, hashing, lookup prefix and scopes.

A key reads `bf_<12 hex prefix>_<43 url-safe chars>`. The prefix is not secret: it is stored in
clear, unique, and finds the key's row without scanning. Only a SHA-256 hash of the whole key is
stored. A fast hash is the right tool here: passwords need slow hashes (bcrypt, argon2) because
people choose them from small, guessable spaces, but these keys carry 256 bits from
`secrets.token_urlsafe`, so brute-forcing a leaked hash is hopeless at any hash speed, and a slow
hash would only make every API request slower.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

Scope = Literal[
    "payments:read",
    "payments:write",
    "merchant:read",
    "merchant:write",
    "webhooks:read",
    "quotes:write",
    "subscriptions:write",
]
ALL_SCOPES: tuple[Scope, ...] = get_args(Scope)

KEY_PREFIX = "bf_"
_PREFIX_HEX = 12
_KEY_RE = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{_PREFIX_HEX}}})_([A-Za-z0-9_-]{{20,200}})$")


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: `plaintext` is shown once and never stored."""

    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    """The stored form of a key (hex SHA-256)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    """A new random key with its lookup prefix and hash."""
    prefix = KEY_PREFIX + secrets.token_hex(_PREFIX_HEX // 2)
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def key_from_plaintext(plaintext: str) -> NewKey:
    """Prefix and hash of a given key (the fixed demo key); raises ValueError on a malformed key."""
    prefix = parse_prefix(plaintext)
    if prefix is None:
        raise ValueError(f"an API key must look like {KEY_PREFIX}<12 hex>_<20+ url-safe characters>")
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def parse_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, or None for anything else."""
    match = _KEY_RE.match(plaintext)
    return f"{KEY_PREFIX}{match.group(1)}" if match else None


def key_matches(plaintext: str, stored_hash: str) -> bool:
    """Compare in constant time, so response timing reveals nothing about the stored hash."""
    return hmac.compare_digest(hash_key(plaintext).encode(), stored_hash.encode())


def normalise_scopes(scopes: Sequence[str] | None) -> list[Scope]:
    """Validate requested scopes (None = all), keeping the canonical order; raises ValueError."""
    if scopes is None:
        return list(ALL_SCOPES)
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_SCOPES)}")
    return [s for s in ALL_SCOPES if s in scopes]
