"""A minimal ModelContext for using model-based judges outside a run (calibration, notebooks, tests).

It builds targets from the registry and calls them directly with a few retries and an in-memory
cache. Inside `babelsafe run` judges get the runner's RunContext instead (persistent cache, limits).
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..targets.base import ProviderError
from ..types import ERROR, GenParams, Generation, Message, stable_hash


class DirectContext:
    """ModelContext without a store: `call` never raises for provider failures."""

    def __init__(self, seed: int = 0, retries: int = 2, concurrency: int = 8):
        self.seed = seed
        self.retries = retries
        self._targets: dict[str, Any] = {}
        self._cache: dict[str, Generation] = {}
        self._sem: asyncio.Semaphore | None = None
        self._concurrency = concurrency
        self.calls: list[dict[str, Any]] = []  # (purpose, messages) of every uncached call, for inspection

    def target(self, spec: str | dict[str, Any] | Any) -> Any:
        """A Target from a registry name, a TargetSpec-like dict ({type, model, base_url, ...}), or as is."""
        if not isinstance(spec, (str, dict)):
            return spec
        key = stable_hash(spec)
        if key not in self._targets:
            from ..registry import registry

            if isinstance(spec, str):
                kind, opts = spec, {}
            else:
                opts = dict(spec.get("options") or {})
                kind = spec.get("type") or spec.get("name") or "openai"
                for k in ("model", "base_url", "api_key_env"):
                    if spec.get(k) is not None:
                        opts[k] = spec[k]
            cls = registry("target").get(kind)
            if "ctx" in inspect.signature(cls).parameters:
                opts["ctx"] = self
            self._targets[key] = cls(**opts)
        return self._targets[key]

    async def call(self, target: Any, messages: list[Message], params: GenParams | None = None,
                   purpose: str = "aux") -> Generation:
        params = params or GenParams()
        try:
            ident = target.identity()
        except Exception:
            ident = {"name": getattr(target, "name", repr(target))}
        key = stable_hash([ident, params.as_dict(), messages])
        if key in self._cache:
            g = self._cache[key]
            return Generation(**{**{f: getattr(g, f) for f in g.__slots__}, "cached": True})  # type: ignore[attr-defined]
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        last: Exception | None = None
        async with self._sem:
            self.calls.append({"purpose": purpose, "messages": messages})
            for attempt in range(self.retries + 1):
                try:
                    g = await target.generate(messages, params)
                    g.attempts = attempt + 1
                    self._cache[key] = g
                    return g
                except ProviderError as e:
                    last = e
                    if not e.retryable:
                        break
                except (asyncio.TimeoutError, ConnectionError, OSError) as e:
                    last = e
                await asyncio.sleep(min(2.0, 0.2 * 2 ** attempt))
        kind = getattr(last, "kind", "connection")
        return Generation(text=None, outcome=ERROR, error=str(last), error_kind=kind, attempts=self.retries + 1)

    async def aclose(self) -> None:
        """Close every target this context built (HTTP sessions)."""
        for t in self._targets.values():
            close = getattr(t, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # pragma: no cover - closing is best effort
                    pass
        self._targets.clear()
