"""Where a call's CPU goes: process-time wrappers patched onto named functions (benchmarks only).

    with PhaseTimer([("babelsafe.metrics.xling", None, "xling_tables", "the xling panel")]) as timer:
        best = timer.best_of(3, lambda: babelsafe.report(run_dir))

Each target is (module, class or None, attribute, key). While the timer is open, the attribute is
replaced by a wrapper (a coroutine wrapper for coroutine functions) that adds the CPU seconds of every
call to `key`; on exit the originals are put back. `best_of` times the whole call as "total" and keeps
each key's best over the repeats: a profiler's per-call overhead would distort many small calls, and
process time leaves out other people's load on a shared machine. Used by bench_report_ci.py and
bench_rerun.py.
"""
from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

Target = tuple[str, "str | None", str, str]


class PhaseTimer:
    """Patch process-time wrappers onto `targets`; read the CPU seconds spent per key."""

    def __init__(self, targets: Iterable[Target]) -> None:
        self.targets = list(targets)
        self.spent: dict[str, float] = {}
        self._originals: list[tuple[Any, str, Any]] = []

    def _wrap(self, fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        spent = self.spent
        if inspect.iscoroutinefunction(fn):
            async def timed_async(*args: Any, **kw: Any) -> Any:
                t0 = time.process_time()
                try:
                    return await fn(*args, **kw)
                finally:
                    spent[key] = spent.get(key, 0.0) + time.process_time() - t0
            return timed_async

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.process_time()
            try:
                return fn(*args, **kw)
            finally:
                spent[key] = spent.get(key, 0.0) + time.process_time() - t0
        return timed

    def __enter__(self) -> PhaseTimer:
        for mod, cls, name, key in self.targets:
            owner = importlib.import_module(mod)
            owner = getattr(owner, cls) if cls else owner
            original = getattr(owner, name)
            self._originals.append((owner, name, original))
            setattr(owner, name, self._wrap(original, key))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()

    def best_of(self, reps: int, call: Callable[[], object],
                setup: Callable[[], object] | None = None) -> dict[str, float]:
        """Run `setup` (untimed) then `call` `reps` times; each key's least CPU seconds, "total" included."""
        best: dict[str, float] = {}
        for _ in range(reps):
            if setup is not None:
                setup()
            self.spent.clear()
            t0 = time.process_time()
            call()
            self.spent["total"] = time.process_time() - t0
            best = {k: min(v, best.get(k, float("inf"))) for k, v in self.spent.items()}
        return best
