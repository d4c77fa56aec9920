"""Two versions of one workflow, before and after a `workflow.patched` change."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="step")
async def step(n: int) -> int:
    return n


class _Base:
    async def steps(self) -> None:
        await workflow.execute_activity(step, 1, start_to_close_timeout=timedelta(seconds=5))


@workflow.defn(name="Patched")
class Original(_Base):
    @workflow.run
    async def run(self) -> None:
        await self.steps()


@workflow.defn(name="Patched")
class WithPatch(_Base):
    @workflow.run
    async def run(self) -> None:
        if workflow.patched("extra-step"):
            await workflow.execute_activity(step, 2, start_to_close_timeout=timedelta(seconds=5))
        await self.steps()
