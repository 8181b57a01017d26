"""A counting gate for asyncio: at most N holders, FIFO for those that wait.

What asyncio.Semaphore does, without its cost when nobody waits: `async with sem` creates two
coroutines and (Python 3.11) a generator over the waiters on every acquire. A run's hot path passes
two such limits per request (the target's concurrency, the HTTP client's connections), almost never
waiting; here a turn that is free costs one comparison.

    if not gate.take():
        await gate.wait()
    try:
        ...
    finally:
        gate.leave()
"""
from __future__ import annotations

import asyncio
import collections


class Gate:
    __slots__ = ("free", "_waiting")

    def __init__(self, n: int):
        self.free = n
        self._waiting: collections.deque[asyncio.Future] = collections.deque()

    def take(self) -> bool:
        """Take a free turn at once (True), or False when every turn is held."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a turn (first come, first served); `take()` said none was free."""
        if self.take():
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # handed a turn, then cancelled: pass it on
                self.leave()
            raise

    def leave(self) -> None:
        """Give a turn back: to the first waiter, or counted free."""
        while self._waiting:
            w = self._waiting.popleft()
            if not w.done():
                w.set_result(None)
                return
        self.free += 1
