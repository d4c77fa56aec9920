"""The workflow sandbox billflow's workers run in, tuned so a new run costs little.

Temporal's sandbox re-imports a workflow's module, and everything it imports that is not passed
through, for every run it starts. billflow's workflow modules import pydantic models, policies and
helpers that are deterministic and keep no state, so re-importing them bought no safety and was the
top cost of the worker (a fresh class build for every model, for every run). They are passed
through; only the workflow modules themselves are reloaded per run.
"""

from __future__ import annotations

import compileall
import logging
from pathlib import Path

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

log = logging.getLogger(__name__)

# Deterministic, stateless code every workflow module imports. `billflow` and `activities` are
# packages: their submodules pass through too. `workflows.common` only wraps `temporalio.workflow`
# calls, which act on the run that calls them.
PASSTHROUGH = (
    "billflow",
    "activities",
    "workflows.common",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "stripe",
    "sqlalchemy",
)


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """The runner every billflow worker uses (the worker process, tests and benchmarks)."""
    compile_workflow_modules()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def compile_workflow_modules() -> None:
    """Write the workflow modules' bytecode if it is missing or stale.

    The sandbox executes each workflow module again for every new run. With
    PYTHONDONTWRITEBYTECODE set (common in containers, and on this project's machines) no `.pyc`
    exists, so every run would compile the module's source again: a third of a payment's worker
    CPU. Compiling once here removes that; a read-only tree only costs the speed-up.
    """
    package = Path(__file__).resolve().parent
    try:
        compileall.compile_dir(str(package), maxlevels=0, quiet=2)
    except OSError as exc:  # pragma: no cover - read-only installs
        log.info("workflow bytecode not written (%s); runs compile their module each time", exc)
