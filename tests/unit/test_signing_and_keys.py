"""Merchant notification signatures and API key helpers (pure functions)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from billflow.security import generate_key, key_from_plaintext, key_matches, normalise_scopes, parse_prefix
from billflow.signing import SignatureError, new_secret, sign, verify


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body, secret, ts = b'{"id":"e1"}', "bfwhsec_abc", 1_700_000_000
    expected = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, secret, ts) == f"t={ts},v1={expected}"
    assert verify(body, sign(body, secret, ts), secret, now=ts + 10) == ts


@pytest.mark.parametrize(
    ("body", "header_secret", "now"),
    [
        (b'{"id":"e2"}', "bfwhsec_abc", 1_700_000_000),  # altered body
        (b'{"id":"e1"}', "bfwhsec_other", 1_700_000_000),  # wrong secret
        (b'{"id":"e1"}', "bfwhsec_abc", 1_700_000_301),  # too old
    ],
)
def test_verify_refuses_altered_wrong_or_old(body: bytes, header_secret: str, now: int) -> None:
    header = sign(b'{"id":"e1"}', header_secret, 1_700_000_000)
    with pytest.raises(SignatureError):
        verify(body, header, "bfwhsec_abc", now=now)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=x,v1=abc", "t=1700000000"])
def test_verify_refuses_malformed_headers(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(b"{}", header, "bfwhsec_abc", now=1_700_000_000)


def test_secrets_and_keys_are_random_and_parseable() -> None:
    assert new_secret() != new_secret()
    key = generate_key()
    assert parse_prefix(key.plaintext) == key.prefix
    assert key_matches(key.plaintext, key.key_hash)
    assert not key_matches(key.plaintext + "x", key.key_hash)
    assert key.plaintext not in key.key_hash
    assert len(key.plaintext) > 50
    assert parse_prefix("bf_nothex000000_" + "a" * 43) is None
    with pytest.raises(ValueError):
        key_from_plaintext("sk_test_123")


def test_scopes_are_validated() -> None:
    assert normalise_scopes(["payments:write", "payments:read"]) == ["payments:read", "payments:write"]
    assert len(normalise_scopes(None)) == 7
    with pytest.raises(ValueError, match="admin"):
        normalise_scopes(["admin"])
