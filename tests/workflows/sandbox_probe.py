"""Workflows that report what the sandbox did to their imports (not a test module: see conftest)."""

from __future__ import annotations

import datetime
import sys

from temporalio import workflow

from billflow.payments import PaymentState
from workflows.common import set_status


@workflow.defn
class ImportProbe:
    """Returns the identity of module objects as the run sees them."""

    @workflow.run
    async def run(self) -> dict[str, int]:
        return {
            "billflow.payments": id(PaymentState),
            "workflows.common": id(set_status),
            "probe_module": id(sys.modules[__name__]),
        }


@workflow.defn
class ClockProbe:
    """Reads the wall clock: the sandbox must still refuse it in a workflow module."""

    @workflow.run
    async def run(self) -> str:
        return str(datetime.datetime.now())
