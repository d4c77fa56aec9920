"""A hello-level workflow: the smallest flow that exercises converter, worker and activities."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

from billflow.policies import LOCAL

with workflow.unsafe.imports_passed_through():
    from activities.hello import GreetInput, greet


class HelloInput(BaseModel):
    name: str


class HelloResult(BaseModel):
    greeting: str


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, data: HelloInput) -> HelloResult:
        greeting = await workflow.execute_activity(
            greet, GreetInput(name=data.name), summary=f"greet {data.name}", **LOCAL.kwargs()
        )
        return HelloResult(greeting=greeting)
