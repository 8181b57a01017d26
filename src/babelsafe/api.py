"""The Python API: the same verbs as the CLI (which is a thin shell over these functions)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError
from .engine import Progress, RunResult, Runner, plan
from .spec import RunSpec, load_spec

__all__ = ["run", "resume", "plan", "RunResult", "RunSpec", "load_spec", "spec_of_run", "run_async"]


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on uvloop when it is installed (faster I/O), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run(spec: RunSpec | dict[str, Any] | str | Path, on_progress: Callable[[Progress], None] | None = None,
        **overrides: Any) -> RunResult:
    """Run a spec (a RunSpec, a dict, or a YAML path) to completion and return its result.

    >>> babelsafe.run({"languages": ["en", "sw"], "limit": 3})          # doctest: +SKIP
    """
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec, **overrides)
    elif isinstance(spec, dict):
        spec = load_spec(None, **{**spec, **overrides})
    elif overrides:
        spec = load_spec(None, **{**spec.model_dump(), **overrides})
    return run_async(Runner(spec, on_progress).run())


def spec_of_run(run_dir: str | Path, **overrides: Any) -> RunSpec:
    """The spec a run dir was created with (its spec.yaml), with overrides applied."""
    path = Path(run_dir) / "spec.yaml"
    if not path.is_file():
        raise UsageError(f"{run_dir} is not a babelsafe run dir (no spec.yaml). Start one with `babelsafe run`.")
    return load_spec(path, out=str(run_dir), **overrides)


def resume(run_dir: str | Path, on_progress: Callable[[Progress], None] | None = None,
           **overrides: Any) -> RunResult:
    """Finish an interrupted run: finished work is kept, failed requests are retried."""
    overrides.setdefault("cache", True)  # a run started with --no-cache still never repeats finished work
    return run_async(Runner(spec_of_run(run_dir, **overrides), on_progress).run())
