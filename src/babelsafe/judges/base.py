"""The Judge protocol: reads a probe and the target's answer, returns a Verdict."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import Generation, Probe, Verdict


@runtime_checkable
class Judge(Protocol):
    """A judge labels one answer with a label from `labels`, or JUDGE_ERROR when it failed itself.

    Judges that call models receive a `ctx` (babelsafe.context.ModelContext) in their constructor and
    make every call through `ctx.call(...)`, so judge calls are cached and resumable like target calls.

    Optional capability, declared by the flag `stateful`: when True the judge has `state() -> dict` and
    `load_state(dict)` (e.g. online ensemble weights), which the runner stores with the run and restores
    on resume.
    """

    name: str
    labels: tuple[str, ...]
    stateful: bool

    async def judge(self, probe: Probe, gen: Generation) -> Verdict: ...
