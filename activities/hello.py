"""The hello-level activity that proves the worker wiring end to end."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity


class GreetInput(BaseModel):
    name: str


@activity.defn
async def greet(data: GreetInput) -> str:
    """Return a greeting; no side effects, so it can run anywhere."""
    return f"Hello, {data.name}!"
