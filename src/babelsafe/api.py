"""The Python API: the same verbs as the CLI (which is a thin shell over these functions)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError
from .runner import Progress, RunResult, Runner, plan
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


# -- white-box analyses (babelsafe.whitebox; need torch + transformers, or llama.cpp where noted) ----
def steer_vector(model: str, pairs: str = "xstest", n: int = 64, position: int = -1, device: str = "auto",
                 dtype: str = "auto", out: str | Path | None = None, cache: bool = True) -> dict[str, Any]:
    """Compute (or load from the cache) the steering vectors of a transformers model from contrastive
    pairs; returns the provenance record (best layer, JS divergence and norm per layer, file path)."""
    from .whitebox.steer import compute_vector

    sv = compute_vector(model, pairs, n, position, device=device, dtype=dtype, cache=cache, out=out)
    return {**sv.provenance, "path": str(sv.path) if sv.path else None}


def heads_scan(model: str, dataset: str = "multijail", language: str = "en", limit: int = 32, mode: str = "scale",
               refusal_top: int = 0, max_tokens: int = 64, device: str = "auto", dtype: str = "auto",
               out: str | Path | None = None) -> dict[str, Any]:
    """Rank a transformers model's attention heads by Ships (KL when ablated) on harmful probes."""
    from .whitebox.heads import ships_scan

    return ships_scan(model, dataset, language, limit, mode, refusal_top=refusal_top, max_tokens=max_tokens,
                      device=device, dtype=dtype, out=out)


def rank_languages(model: str, dataset: str = "multijail", languages: list[str] | None = None, limit: int = 50,
                   backend: str = "auto", layers: list[int] | None = None, device: str = "auto",
                   run_dir: str | Path | None = None, judge: str | None = None,
                   target: str | None = None) -> dict[str, Any]:
    """Language Ranker scores (similarity to English on parallel prompts); with `run_dir`, beside the
    run's per-language unsafe rates with their correlation (and saved for the report)."""
    from .whitebox.ranker import rank_languages as _rank

    return _rank(model, dataset, languages, limit, backend, layers, device=device, run_dir=run_dir, judge=judge,
                 target_label=target)
