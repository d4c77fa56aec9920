"""Payload encryption, so customer emails and names are not plain in Temporal's history.

With BILLFLOW_PAYLOAD_KEY set, every payload the client or worker writes is sealed with AES-GCM;
`billflow codec-server` decodes them for the Temporal UI so operators can still read runs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
NONCE_BYTES = 12


def _derive(key_text: str) -> bytes:
    """A 256-bit key from the configured text; any string works, so operators can use a passphrase."""
    return hashlib.sha256(key_text.encode()).digest()


class EncryptionCodec(PayloadCodec):
    """Seals each payload (metadata and data) and tags it with the key's id."""

    def __init__(self, key_text: str) -> None:
        key = _derive(key_text)
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"billflow-key-id" + key).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id}, data=sealed)

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        if payload.metadata.get("encryption-key-id") != self.key_id:
            raise ValueError("payload was encrypted with a different BILLFLOW_PAYLOAD_KEY")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(self._aead.decrypt(nonce, sealed, None))
        except InvalidTag:
            raise ValueError("payload is corrupt or was encrypted with another key") from None


def with_codec(converter: DataConverter, key_text: str | None) -> DataConverter:
    """The converter, encrypting when a key is configured."""
    if not key_text:
        return converter
    return dataclasses.replace(converter, payload_codec=EncryptionCodec(key_text))


class CodecPayload(BaseModel):
    """Temporal's codec-server JSON form of one payload: base64 metadata values and data."""

    metadata: dict[str, str] = {}
    data: str = ""

    @classmethod
    def of(cls, payload: Payload) -> CodecPayload:
        return cls(
            metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            data=base64.b64encode(payload.data).decode(),
        )

    def to_payload(self) -> Payload:
        try:
            return Payload(
                metadata={k: base64.b64decode(v, validate=True) for k, v in self.metadata.items()},
                data=base64.b64decode(self.data, validate=True),
            )
        except binascii.Error:
            raise ValueError("payload metadata and data must be base64") from None


class CodecBody(BaseModel):
    payloads: list[CodecPayload]
