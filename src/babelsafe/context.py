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


class LocalContext:
    """A ModelContext for use outside a run (calibration, the guard proxy, notebooks, tests).

    Builds targets from names or TargetSpec-like dicts, calls them with retries (exponential backoff) and
    a per-call timeout under a concurrency bound, and keeps successful answers in an in-memory LRU cache.
    Like RunContext.call, `call` never raises for provider failures: they come back as error Generations.
    Inside `babelsafe run` components get the runner's RunContext instead (persistent cache, rate limits).
    """

    def __init__(self, seed: int = 0, retries: int = 2, timeout: float = 60.0, concurrency: int = 64,
                 cache_size: int = 4096, images_dir: str | None = None):
        from collections import OrderedDict

        from .images.store import ImageStore

        self.images = ImageStore(images_dir)  # in memory unless a folder is given

        self.seed = seed
        self.retries = retries
        self.timeout = timeout
        self._concurrency = concurrency
        self._sem: Any = None
        self._targets: dict[str, Any] = {}
        self._cache: OrderedDict[str, Generation] = OrderedDict()
        self._cache_size = cache_size
        self.calls: list[dict[str, Any]] = []  # purpose and messages of every uncached call, for inspection

    def target(self, spec: Any) -> Any:
        """A Target from a registry name, a TargetSpec-like dict ({type, model, base_url, ...}), or as is."""
        import inspect

        from .errors import UsageError
        from .registry import registry
        from .spec import target_spec
        from .types import stable_hash

        if not isinstance(spec, (str, dict)):
            return spec
        key = stable_hash(spec)
        if key not in self._targets:
            tspec = target_spec(spec)
            opts = tspec.constructor_options()
            cls = registry("target").get(tspec.type)
            params = inspect.signature(cls).parameters
            if "timeout" in params:
                opts.setdefault("timeout", self.timeout)
            if "ctx" in params:
                opts["ctx"] = self
            try:
                self._targets[key] = cls(**opts)
            except TypeError as e:
                raise UsageError(f"Bad options for target '{tspec.type}': {e}") from e
        return self._targets[key]

    def register(self, target: Any, label: str | None = None) -> None:
        """Nothing to do: any target can be called directly here."""

    async def call(self, target: Any, messages: list[Message], params: GenParams | None = None,
                   purpose: str = "aux") -> Generation:
        import asyncio

        from .errors import UsageError
        from .targets.base import ProviderError
        from .types import ERROR, stable_hash

        params = params or GenParams()
        try:
            ident = target.identity()
        except Exception:
            ident = {"name": getattr(target, "name", repr(target))}
        key = stable_hash([ident, params.as_dict(), messages])
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return Generation(**{**{f: getattr(hit, f) for f in hit.__slots__}, "cached": True})  # type: ignore[attr-defined]
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._concurrency)
        last: Exception | None = None
        async with self._sem:
            self.calls.append({"purpose": purpose, "messages": messages})
            for attempt in range(self.retries + 1):
                try:
                    g = await asyncio.wait_for(target.generate(self.images.resolve(messages), params),
                                               self.timeout + 5)
                    g.attempts = attempt + 1
                    if g.outcome != ERROR:
                        self._cache[key] = g
                        if len(self._cache) > self._cache_size:
                            self._cache.popitem(last=False)
                    return g
                except ProviderError as e:
                    last = e
                    if not e.retryable:
                        break
                except UsageError as e:  # an image reference that cannot be resolved: not retryable
                    last = ProviderError("client", str(e), retryable=False)
                    break
                except asyncio.TimeoutError:
                    last = ProviderError("timeout", f"no answer within {self.timeout:g}s", retryable=True)
                except (ConnectionError, OSError) as e:
                    last = ProviderError("connection", f"{type(e).__name__}: {e}", retryable=True)
                if attempt < self.retries:
                    await asyncio.sleep(min(2.0, 0.2 * 2 ** attempt))
        kind = getattr(last, "kind", "connection")
        return Generation(text=None, outcome=ERROR, error=str(last), error_kind=kind,
                          attempts=min(attempt + 1, self.retries + 1))

    async def aclose(self) -> None:
        """Close every target this context built (HTTP sessions)."""
        for t in self._targets.values():
            close = getattr(t, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing is best effort
                    pass
