"""Batching for in-process backends: concurrent single calls gathered into batched backend calls
(MicroBatcher), and explicit batches run in chunks (run_in_batches). Used by the transformers and
vLLM targets."""
from __future__ import annotations

import asyncio
from typing import Callable

from ..types import ERROR, GenParams, Generation, Message, stable_hash
from .base import ProviderError

BatchFn = Callable[[list[list[Message]], GenParams], "list[Generation | ProviderError]"]


class MicroBatcher:
    """Gathers concurrent `submit` calls with equal GenParams into batches of at most `batch_size` and runs
    them with the blocking `run_batch` in a worker thread, one batch at a time.

    Leader pattern, no background task: each caller queues its request, then waits for the (FIFO) lock;
    whoever holds it runs every queued request with the same parameters (up to batch_size) while the rest
    of the callers keep queueing. A caller whose request was served by someone else's batch just returns.
    """

    def __init__(self, run_batch: BatchFn, batch_size: int, gather_s: float = 0.0):
        self.run_batch = run_batch
        self.batch_size = max(1, int(batch_size))
        self.gather_s = gather_s
        self.batches_run = 0
        self.batch_sizes: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._pending: list[tuple[str, list[Message], GenParams, asyncio.Future]] = []

    async def submit(self, messages: list[Message], params: GenParams) -> Generation:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (e.g. another asyncio.run): fresh primitives
            self._loop, self._lock, self._pending = loop, asyncio.Lock(), []
        assert self._lock is not None
        key = stable_hash(params.as_dict())
        fut: asyncio.Future = loop.create_future()
        mine = (key, messages, params, fut)
        self._pending.append(mine)
        try:
            return await self._lead_or_wait(mine)
        except BaseException:
            if not fut.done():  # cancelled while queued: make sure no batch computes it
                fut.cancel()
            raise

    async def _lead_or_wait(self, mine: tuple[str, list[Message], GenParams, asyncio.Future]) -> Generation:
        assert self._lock is not None
        key, fut = mine[0], mine[3]
        async with self._lock:
            if not fut.done():
                await asyncio.sleep(self.gather_s)  # let callers scheduled in the same tick queue up
                # callers that gave up (cancelled, e.g. a runner timeout) are dropped, not computed
                self._pending = [r for r in self._pending if not r[3].done() or r is mine]
                batch = [mine] + [r for r in self._pending if r[0] == key and r is not mine]
                batch = batch[: self.batch_size]
                taken = {id(r) for r in batch}
                self._pending = [r for r in self._pending if id(r) not in taken]
                # shielded: if this leader is cancelled, the batch still finishes for the other callers
                await asyncio.shield(asyncio.ensure_future(self._run(batch)))
        return await fut

    async def _run(self, batch: list[tuple[str, list[Message], GenParams, asyncio.Future]]) -> None:
        self.batches_run += 1
        self.batch_sizes.append(len(batch))
        try:
            results = await asyncio.to_thread(self.run_batch, [r[1] for r in batch], batch[0][2])
        except BaseException as e:  # noqa: BLE001 - delivered to every caller in the batch
            for r in batch:
                if not r[3].done():
                    r[3].set_exception(e)
            return
        for r, res in zip(batch, results):
            if r[3].done():
                continue
            if isinstance(res, BaseException):
                r[3].set_exception(res)
            else:
                r[3].set_result(res)


def as_generation(res: "Generation | ProviderError") -> Generation:
    """A per-row error from a batch as an error Generation (for generate_batch callers)."""
    if isinstance(res, ProviderError):
        return Generation(text=None, outcome=ERROR, error=str(res), error_kind=res.kind)
    return res


async def run_in_batches(fn: BatchFn, convs: list[list[Message]], params: GenParams, batch_size: int,
                         ) -> list[Generation]:
    out: list[Generation] = []
    for i in range(0, len(convs), batch_size):
        chunk = await asyncio.to_thread(fn, convs[i:i + batch_size], params)
        out.extend(as_generation(r) for r in chunk)
    return out
