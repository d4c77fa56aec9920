"""The one list of workflows the worker registers."""

from __future__ import annotations

from workflows.hello import HelloWorkflow

WORKFLOWS: list[type] = [HelloWorkflow]
