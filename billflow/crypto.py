"""Secrets at rest: Fernet encryption for merchants' Stripe keys and signing secrets."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Encrypts and decrypts short secrets with the configured Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError:
            raise ValueError("BILLFLOW_ENCRYPTION_KEY is not a valid Fernet key") from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted with BILLFLOW_ENCRYPTION_KEY") from None


def mask(secret: str, keep: int = 4) -> str:
    """Show a secret's kind and last characters only, e.g. 'sk_test_…abcd'."""
    prefix = secret[: secret.find("_", 3) + 1] if secret.count("_") >= 2 else ""
    return f"{prefix}…{secret[-keep:]}" if len(secret) > keep else "…"
