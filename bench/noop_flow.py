"""The benchmarks' baseline: a workflow that only runs no-op activities and children.

Its own small module so that, run in the sandbox like billflow's workflows, each run reloads only
this file (importing it from bench/payments.py would reload that script's imports for every run).
`BenchNoopWorkflow` runs in the sandbox; `BenchNoopWorkflowBare` is the same flow outside it, the
strictest baseline.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop() -> None:
    """Does nothing: the baseline's activity."""


async def _activities(count: int) -> None:
    for _ in range(count):
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))


async def _children(child: str, shape: list[int]) -> None:
    for i, child_activities in enumerate(shape[1:]):
        await workflow.start_child_workflow(
            child,
            child_activities,
            id=f"{workflow.info().workflow_id}/child{i}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )


@workflow.defn(name="BenchNoopChild")
class NoopChild:
    @workflow.run
    async def run(self, activities: int) -> None:
        await _activities(activities)


@workflow.defn(name="BenchNoopWorkflow")
class NoopWorkflow:
    @workflow.run
    async def run(self, shape: list[int]) -> None:
        """`shape` = [activities of the parent, then activities of each child]."""
        await _activities(shape[0])
        await _children("BenchNoopChild", shape)


@workflow.defn(name="BenchNoopChildBare", sandboxed=False)
class NoopChildBare:
    @workflow.run
    async def run(self, activities: int) -> None:
        await _activities(activities)


@workflow.defn(name="BenchNoopWorkflowBare", sandboxed=False)
class NoopWorkflowBare:
    @workflow.run
    async def run(self, shape: list[int]) -> None:
        await _activities(shape[0])
        await _children("BenchNoopChildBare", shape)


ALL = [NoopWorkflow, NoopChild, NoopWorkflowBare, NoopChildBare]
