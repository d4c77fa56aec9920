"""Allowed request parameters per endpoint, taken from the SDK's ``*Params`` TypedDicts."""

from __future__ import annotations

from functools import cache

import stripe.params
import stripe.params.test_helpers
from stripe._request_options import RequestOptions

_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


@cache
def sdk_params(name: str) -> frozenset[str]:
    """Top-level keys of ``stripe.params.<name>`` (or ``stripe.params.test_helpers.<name>``)."""
    cls = getattr(stripe.params, name, None) or getattr(stripe.params.test_helpers, name)
    keys = frozenset(cls.__annotations__) - _REQUEST_OPTION_KEYS
    return keys | {"expand"}
