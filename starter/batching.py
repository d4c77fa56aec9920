"""Batch work that many coroutines hand in at once, with no timer.

While a batch for a key is being written, further items for that key queue up and go together in
the next one; a lone item is a batch of one and waits for nothing. The webhook endpoint uses it
for its database writes (one key) and for its signals (one key per workflow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """`write(key, items)` returns one result per item; an exception fails every item of its batch."""

    def __init__(self, write: Callable[[str, list[In]], Awaitable[list[Out]]], max_batch: int) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: dict[str, list[tuple[In, asyncio.Future[Out]]]] = {}
        self._writing: set[str] = set()

    async def submit(self, item: In, key: str = "") -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((item, future))
        if key not in self._writing:
            self._writing.add(key)
            asyncio.get_running_loop().create_task(self._drain(key))
        return await future

    async def _drain(self, key: str) -> None:
        try:
            while waiting := self._waiting.pop(key, None):
                batch, rest = waiting[: self._max_batch], waiting[self._max_batch :]
                if rest:
                    self._waiting[key] = rest
                try:
                    results = await self._write(key, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writing.discard(key)
