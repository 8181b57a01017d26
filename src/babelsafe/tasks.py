"""The Task protocol: answers a probe with more than one model call (e.g. an agent loop over tools).

A sample whose `meta["task"]` names a registered task (registry kind `task`) is answered by that task
instead of one model call. The task makes every model call through `ctx.call(slot.target, ...)` (the
run's one cached, retried, rate-limited path), returns the final Generation (it may attach its steps as
`Generation.trace` for the judges) and stores what reports need itself. The runner runs it again on
resume; finished model calls are cache hits there, so nothing finished is asked again.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .types import Generation, Probe


@runtime_checkable
class Task(Protocol):
    name: str

    async def run(self, probe: Probe, slot: Any, ctx: Any) -> Generation: ...
