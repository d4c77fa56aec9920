"""Property-based fuzzing of every operation in /openapi.json (schemathesis): no 5xx, no response
outside the documented schema, whatever the body, query, path or headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billflow.config import Settings
from billflow.ledger.db import Ledger
from starter.api import create_app
from starter.deps import AppState
from stripe_emulator.server import EmulatorServer
from tests.api.conftest import Shop

CHECKS: list[Any] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The schema comes from an app built at import (OpenAPI needs no database); the fixture below
# points that same app at this session's PostgreSQL ledger and the emulator before each example.
APP = create_app(settings=Settings(environment="test"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def fuzz_shop(
    make_merchant: Callable[..., Shop], settings: Settings, pg_ledger: Ledger, emulator: EmulatorServer
) -> Shop:
    fuzz_settings = settings.model_copy(update={"stripe_api_base": emulator.base_url})
    APP.state.billflow = AppState(fuzz_settings, pg_ledger, None)
    return make_merchant("fuzz")


@schema.parametrize()
@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case: Any, fuzz_shop: Shop) -> None:
    case.call_and_validate(headers=fuzz_shop.headers, checks=CHECKS)
