"""The Transform protocol: turns a probe into one or more probes (translate, wrap, mix, encode)."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..types import Probe


@runtime_checkable
class Transform(Protocol):
    """One step of a transform chain.

    `apply` receives the probe built so far (the first step gets the sample's prompt as a single user
    message) and returns new probes; each new probe appends a step record to `chain`
    ({"name": ..., "params": {...}, "output": <text>}). Model-based transforms make every call through
    `ctx.call(...)` (cached, resumable). Optional `decode(probe, text) -> text` undoes an encoding in the
    answer before judging (ciphers); the runner applies decoders in reverse chain order.
    """

    name: str

    async def apply(self, probe: Probe, ctx: Any) -> list[Probe]: ...
