"""Stripe-style object ids (``pi_…``, ``cus_…``) from a seedable generator."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
# byte value -> alphabet character (the tiny modulo bias does not matter for ids)
_TABLE = bytes(ord(_ALPHABET[i % len(_ALPHABET)]) for i in range(256))


class IdGenerator:
    """Makes ids with Stripe's prefixes; a seed makes the sequence reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        self._rng = random.Random(seed)

    def token(self, length: int = 24) -> str:
        return self._rng.randbytes(length).translate(_TABLE).decode()

    def new(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{self.token(length)}"

    def hex(self, length: int) -> str:
        return "".join(self._rng.choices("0123456789abcdef", k=length))
