"""Typed helpers for Python backends (and the API and CLI) to reach Temporal."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from billflow.codec import with_codec
from billflow.config import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect with the pydantic data converter (encrypting payloads when BILLFLOW_PAYLOAD_KEY is set),
    plus TLS or an API key for a real cluster."""
    payload_key = settings.payload_key.get_secret_value() if settings.payload_key else None
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=with_codec(pydantic_data_converter, payload_key),
        api_key=api_key,
        tls=settings.temporal_tls or api_key is not None,
        runtime=runtime,
    )
