"""The Judge protocol: reads a probe and the target's answer, returns a Verdict."""
from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

from ..types import JUDGE_ERROR, Generation, Probe, Verdict

log = logging.getLogger(__name__)


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


async def never_raise(name: str, verdict: Awaitable[Verdict]) -> Verdict:
    """Await a judge's verdict; an exception becomes a JUDGE_ERROR verdict named `name`.

    A judge never takes a run down: the failure is logged with its traceback, stored as the verdict's
    error and excluded from rates (never counted as safe).
    """
    try:
        return await verdict
    except Exception as e:
        log.exception("judge %s failed", name)
        return Verdict(name, JUDGE_ERROR, error=f"{type(e).__name__}: {e}")
