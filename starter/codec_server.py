"""`billflow codec-server`: the /decode and /encode endpoints the Temporal UI's codec setting calls."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware

from billflow.codec import CodecBody, CodecPayload, EncryptionCodec


def create_codec_app(key_text: str, ui_origins: list[str]) -> FastAPI:
    """A small app that decodes (and encodes) payloads with billflow's encryption codec."""
    codec = EncryptionCodec(key_text)
    app = FastAPI(title="billflow codec server", docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=ui_origins,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        allow_credentials=True,
    )

    async def _convert(body: CodecBody, decode: bool) -> CodecBody:
        try:
            payloads = [p.to_payload() for p in body.payloads]
            out = await (codec.decode(payloads) if decode else codec.encode(payloads))
        except ValueError as exc:
            raise HTTPException(400, f"cannot {'decode' if decode else 'encode'} payloads: {exc}") from None
        return CodecBody(payloads=[CodecPayload.of(p) for p in out])

    @app.post("/decode")
    async def decode(body: CodecBody) -> CodecBody:
        """Decrypt payloads for the UI."""
        return await _convert(body, decode=True)

    @app.post("/encode")
    async def encode(body: CodecBody) -> CodecBody:
        """Encrypt payloads the UI sends (signal inputs typed in the UI)."""
        return await _convert(body, decode=False)

    return app
