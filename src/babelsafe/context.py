"""What model-using components (translators, LLM judges, rewriters) get: cached model calls."""
from __future__ import annotations

from typing import Any, Protocol

from .types import GenParams, Generation, Message


class ModelContext(Protocol):
    """Handed to transforms and judges. Every call goes through the run's cache and store."""

    seed: int

    async def call(self, target: Any, messages: list[Message], params: GenParams | None = None,
                   purpose: str = "aux") -> Generation:
        """Call `target` (a Target) with retries and caching; never raises for provider failures:
        a failed call comes back as a Generation with outcome 'error'."""
        ...

    def target(self, spec: str | dict[str, Any]) -> Any:
        """Build (once per run) a Target from a name or a TargetSpec-like dict, e.g. a translator."""
        ...


from .engine.caller import LocalContext  # noqa: E402  (the in-memory ModelCaller)

__all__ = ["ModelContext", "LocalContext"]
