"""The Python API: every verb of the CLI as a function that returns data (the CLI only maps flags onto
these calls and prints what they return).

    import babelsafe
    result = babelsafe.run({"languages": ["en", "sw"], "limit": 3}, model="gpt-4o-mini", target="openai")
    rep = babelsafe.report(result.run_dir)            # Report(path, summary, comparison)
    diff = babelsafe.compare("runs/a", "runs/b")      # dict: per-language paired differences

Run settings and the first target's settings (`target`, `model`, `base_url`, `options`, ... see
spec.TARGET_OVERRIDES) are keyword arguments of `run` and `plan`, exactly as the CLI's flags.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import UsageError

if TYPE_CHECKING:  # heavy modules load when a verb runs, so `import babelsafe` and `babelsafe list` stay cheap
    from .spec import RunSpec
    from .defense.export import ExportResult
    from .defense.proxy import ProxyConfig
    from .defense.scan import ScanResult
    from .engine import Progress, RunResult
    from .generate import GenerateResult

__all__ = ["run", "resume", "plan", "generate", "report", "compare", "calibrate", "guard", "guard_app", "guard_config",
           "defend_export", "defend_scan", "components", "show", "kinds", "Report", "spec_of_run", "run_async",
           "steer_vector", "heads_scan", "rank_languages",
           "RunSpec", "load_spec", "resolve_spec"]  # noqa: F822 - from spec on first use (__getattr__)

OnProgress = Callable[["Progress"], None]
OnInterrupt = Callable[[Path, int], None]
_SPEC = ("RunSpec", "load_spec", "resolve_spec")


def __getattr__(name: str) -> Any:
    """RunSpec, load_spec and resolve_spec, from babelsafe.spec on first use (pydantic models and YAML:
    `babelsafe list` and `--help` need neither)."""
    if name in _SPEC:
        from . import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on uvloop when it is installed (faster I/O), else asyncio's loop."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# -- run / resume / plan ---------------------------------------------------------------------------
def _execute(spec: RunSpec, on_progress: OnProgress | None, on_interrupt: OnInterrupt | None,
             report: bool = False) -> "RunResult":
    """Run a spec. With `on_interrupt`, Ctrl-C stops the run cleanly (finished work is kept) and calls
    `on_interrupt(run_dir, presses)` for each press; what a second press does is the caller's choice."""
    if spec.executor.name == "ray":
        return _execute_ray(spec, on_progress, on_interrupt)
    import asyncio

    from .engine import Runner

    runner = Runner(spec, on_progress, report=report)
    if on_interrupt is None:
        return run_async(runner.run())

    async def go() -> "RunResult":
        loop = asyncio.get_running_loop()
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                runner.request_stop()
            on_interrupt(runner.run_dir, presses)

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix or not the main thread
            pass
        try:
            return await runner.run()
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGINT)

    return run_async(go())


def _execute_ray(spec: RunSpec, on_progress: OnProgress | None, on_interrupt: OnInterrupt | None) -> "RunResult":
    """Run a spec sharded across Ray actors (executors/ray.py); Ctrl-C stops every worker cleanly."""
    from .executors.ray import RayExecution

    execution = RayExecution(spec, on_progress)
    if on_interrupt is None:
        return execution.execute()
    presses = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            execution.request_stop()
        on_interrupt(execution.run_dir, presses)

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # pragma: no cover - not the main thread
        return execution.execute()
    try:
        return execution.execute()
    finally:
        signal.signal(signal.SIGINT, previous)


def run(spec: RunSpec | dict[str, Any] | str | Path | None = None, on_progress: OnProgress | None = None, *,
        on_interrupt: OnInterrupt | None = None, report: bool = False, **overrides: Any) -> "RunResult":
    """Run a spec (a RunSpec, a dict, a YAML path, or None for the defaults) to completion.

    `overrides`: run settings (languages=, limit=, transforms= ...) and the first target's settings
    (target= type, model=, base_url=, options= merged into the target's options ...).
    `report`: also write report.html, results.csv and results.parquet at the end (one read of the store
    serves them and summary.json; the result's `report` is the page's path).

    >>> babelsafe.run({"languages": ["en", "sw"], "limit": 3})          # doctest: +SKIP
    """
    from .spec import resolve_spec

    return _execute(resolve_spec(spec, **overrides), on_progress, on_interrupt, report)


def plan(spec: RunSpec | dict[str, Any] | str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """What `run` would do, without calling a model: samples, chains, targets, requests, token estimates.
    Component names and options are checked first, so a bad option fails here as it would in `run`."""
    from .engine import plan as plan_run
    from .spec import resolve_spec

    spec = resolve_spec(spec, **overrides)
    check_components(spec)
    return plan_run(spec)


def check_components(spec: RunSpec) -> None:
    """UsageError for an unknown component or a bad option anywhere in `spec` (nothing is built)."""
    from .registry import registry

    for chain in spec.transforms:
        for step in chain:
            registry("transform").check(step.name, step.options)
    for j in spec.judges:
        registry("judge").check(j.name, j.options)
    for t in spec.targets:
        registry("target").get(t.type)
        for d in t.defenses:
            registry("defense").check(d.name, d.options)


def spec_of_run(run_dir: str | Path, **overrides: Any) -> RunSpec:
    """The spec a run dir was created with (its spec.yaml), with overrides applied."""
    path = Path(run_dir) / "spec.yaml"
    if not path.is_file():
        raise UsageError(f"{run_dir} is not a babelsafe run dir (no spec.yaml). Start one with `babelsafe run`.")
    from .spec import load_spec

    return load_spec(path, out=str(run_dir), **overrides)


def resume(run_dir: str | Path, on_progress: OnProgress | None = None, *, on_interrupt: OnInterrupt | None = None,
           report: bool = False, **overrides: Any) -> "RunResult":
    """Finish an interrupted run: finished work is kept, failed requests are retried. `report`: as in run."""
    overrides.setdefault("cache", True)  # a run started with --no-cache still never repeats finished work
    return _execute(spec_of_run(run_dir, **overrides), on_progress, on_interrupt, report)


# -- report / compare / calibrate ------------------------------------------------------------------
@dataclass
class Report:
    """What `report` wrote and computed: report.html's path, the summary, the comparison (if asked)."""

    path: Path
    summary: dict[str, Any]
    comparison: dict[str, Any] | None = None


def _run_store(run_dir: str | Path) -> Path:
    store = Path(run_dir) / "results.sqlite"
    if not store.exists():
        raise UsageError(f"{run_dir} has no results.sqlite: is it a babelsafe run directory? "
                         "Make one with `babelsafe run`.")
    return store


def _compare_runs(run_a: str | Path, run_b: str | Path, judge: str | None = None, **pairing: Any) -> dict[str, Any]:
    from .metrics.compare import compare as compare_runs

    return compare_runs(run_a, run_b, judge=judge, **pairing)


def report(run_dir: str | Path, compare: str | Path | None = None, max_examples: int = 2000,
           recompute: bool = True, tradeoff_with: list[str | Path] | None = None) -> Report:
    """Recompute summary.json from the store (`recompute=False`: use the run's summary.json when it is
    current) and write report.html, results.csv and results.parquet; `compare`: a second run dir whose
    paired comparison is added to the report; `tradeoff_with`: other run dirs (e.g. a safety run of the same
    target) whose over-refusal and unsafe rates fill the helpfulness trade-off table where this run has none."""
    from .reporting.html import write_report
    from .results.summary_file import read_summary

    run_dir = Path(run_dir)
    _run_store(run_dir)
    comparison = _compare_runs(run_dir, compare) if compare is not None else None
    others = [Path(p) for p in (tradeoff_with or [])] + ([Path(compare)] if compare is not None else [])
    for o in others:
        _run_store(o)
    path = write_report(run_dir, recompute=recompute, max_examples=max_examples, comparison=comparison,
                        others=others)
    summary = read_summary(run_dir)  # written (or found current) by write_report
    return Report(path, summary or {}, comparison)


def _write_json(path: str | Path | None, data: Any) -> None:
    if path is None:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def compare(run_a: str | Path, run_b: str | Path, judge: str | None = None,
            json_out: str | Path | None = None, pair_on: str | list[str] | None = None,
            transform_a: str | list[str] | None = None, transform_b: str | list[str] | None = None) -> dict[str, Any]:
    """Paired per-prompt comparison of two runs (B - A per language, intervals, McNemar p); with
    `json_out`, also saved there as JSON. Pairs on sample and language by default (`pair_on`, add
    "transform" for like with like); `transform_a` / `transform_b` pick each side's transform chains
    (e.g. "none" and "aim" of one run)."""
    result = _compare_runs(run_a, run_b, judge, pair_on=pair_on, transform_a=transform_a,
                           transform_b=transform_b)
    _write_json(json_out, result)
    return result


def generate(target: Any, out: str | Path, *, categories: Any = None, styles: Any = None,
             techniques: Any = None, languages: Any = None, per_cell: int = 3, critic: Any = None,
             dedup: float | None = 0.8, evolve: str | Path | None = None, evolve_judge: str | None = None,
             shots: int = 3, seed: int = 0, concurrency: int = 8, retries: int = 2, timeout: float = 60.0,
             on_progress: OnProgress | None = None, on_interrupt: OnInterrupt | None = None) -> "GenerateResult":
    """Generate a test suite over category x style x technique x language (ASTRAL; S-Eval's critic).

    `target`/`critic`: target specs as `run` takes them ('openai:MODEL@URL', 'local', a dict). Writes
    `out` (JSONL that `run -d` reads) and `<out>.gen/` (the call store, rejected.jsonl, coverage.json);
    rerunning repeats no finished call. Returns the tests, the rejected outputs and the coverage table.

    >>> babelsafe.generate("openai:gpt-4o-mini", "suite.jsonl", categories="privacy", per_cell=2)  # doctest: +SKIP
    """
    import asyncio

    from .generate import Generator

    gen = Generator(target, out, categories=categories, styles=styles, techniques=techniques,
                    languages=languages, per_cell=per_cell, critic=critic, dedup=dedup, evolve=evolve,
                    evolve_judge=evolve_judge, shots=shots, seed=seed, concurrency=concurrency,
                    retries=retries, timeout=timeout, on_progress=on_progress)
    if on_interrupt is None:
        return run_async(gen.run())

    async def go() -> "GenerateResult":
        loop = asyncio.get_running_loop()
        presses = 0

        def on_sigint() -> None:
            nonlocal presses
            presses += 1
            gen.request_stop()
            on_interrupt(gen.gen_dir, presses)

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix or not the main thread
            pass
        try:
            return await gen.run()
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGINT)

    return run_async(go())


def calibrate(judge: str, labels_file: str | Path, options: dict[str, Any] | None = None,
              vocabulary: str | None = None, bootstrap: int = 1000, json_out: str | Path | None = None,
              **kw: Any) -> dict[str, Any]:
    """Agreement of a judge with human labels (accuracy, kappa, per-class F1, confusion, per language)."""
    from .judges.calibrate import calibrate as run_calibration

    result = run_calibration(judge, labels_file, options=options or {}, vocabulary=vocabulary,
                             bootstrap=bootstrap, **kw)
    _write_json(json_out, result)
    return result


# -- guard / defend --------------------------------------------------------------------------------
def guard_config(upstream: str, **settings: Any) -> "ProxyConfig":
    """A checked ProxyConfig: `upstream` is the model's base URL; settings as `babelsafe guard serve`'s
    flags (judge, check, judge_options, input_judge, pivot, translator, block_labels, fail_closed, ...);
    lists may be given as comma strings, the translator as a compact target spec."""
    from .defense.proxy import config_from_flags

    return config_from_flags(upstream, **settings)


def guard_app(config: "ProxyConfig | str", **settings: Any) -> Any:
    """The guard proxy as an ASGI app (serve it with any ASGI server)."""
    from .defense.proxy import create_app

    cfg = guard_config(config, **settings) if isinstance(config, str) else config
    return create_app(cfg)


def guard(config: "ProxyConfig | str", host: str = "127.0.0.1", port: int = 8080,
          on_ready: Callable[[], None] | None = None, **settings: Any) -> None:
    """Serve the guard proxy in the foreground until stopped; `on_ready()` is called once it is built."""
    from .defense.proxy import serve

    cfg = guard_config(config, **settings) if isinstance(config, str) else config
    serve(cfg, host, port, on_ready)


def defend_export(run_dir: str | Path, format: str = "sft", out: str | Path | None = None,
                  refusal_target: Any = None, helpful_target: Any = None, judge: str | None = None,
                  dpo_style: str = "trl", hf: bool = True, recipe: str = "unsafe-answers") -> "ExportResult":
    """SFT / DPO safety fine-tuning data from a judged run (written to `out` when given). `recipe`:
    unsafe-answers (refusals where the model answered unsafely) or self-defense (a refusal for every harmful
    prompt in every language of the run); `ExportResult.notes` says what was exported and why."""
    from .defense.export import export

    return export(run_dir, format, out, refusal_target, helpful_target, judge, dpo_style, hf, recipe=recipe)


def defend_scan(data: str | Path, judge: str = "refusal", judge_options: dict[str, Any] | None = None,
                rules: str | Path | None = None, min_severity: int = 1, out: str | Path | None = None,
                languages: str | list[str] | None = None) -> "ScanResult":
    """Screen a chat fine-tuning JSONL for safety-eroding examples (flagged ones written to `out`);
    `languages` (the set's languages) is the prior that keeps short lines from being misdetected."""
    from .defense.scan import scan

    return scan(data, judge, judge_options, rules, min_severity, out=out, languages=languages)


# -- list / show -----------------------------------------------------------------------------------
def kinds() -> list[str]:
    """What `components` can list: the registry kinds plus 'language'."""
    from .registry import KINDS

    return [*KINDS, "language"]


def kind_of(kind: str, verb: str = "list") -> str:
    """The registry kind for a user's word: 'datasets' or 'dataset' -> 'dataset' (UsageError if unknown)."""
    k = kind.strip().lower()
    k = k[:-1] if k.endswith("s") and k[:-1] in kinds() else k
    if k not in kinds():
        raise UsageError(f"Cannot {verb} '{kind}'. Choose one of: {', '.join(x + 's' for x in kinds())}.")
    return k


def components(kind: str) -> list[dict[str, Any]]:
    """Every registered component of `kind` (dataset(s), transform(s), target(s), judge(s), defense(s),
    language(s)) with its metadata: name, description, languages, size, license, source ..."""
    k = kind_of(kind)
    if k == "language":
        from . import languages as L

        return [{"code": x.code, "iso3": x.iso3, "name": x.name, "script": x.script, "family": x.family,
                 "tier": L.tier(x.code)} for x in L.LANGUAGES.values()]
    from .registry import registry

    reg = registry(k)
    return [reg.describe(n) for n in reg.names()]


def show(kind: str, name: str) -> dict[str, Any]:
    """Everything known about one component: its metadata, full description and options with defaults."""
    k = kind_of(kind, "show")
    if k == "language":
        match = [r for r in components("language") if name.lower() in (r["code"], r["iso3"], r["name"].lower())]
        if not match:
            raise UsageError(f"Unknown language '{name}'. See `babelsafe list languages`.")
        return dict(match[0])
    from .registry import registry

    reg = registry(k)
    cls = reg.get(name)
    info = reg.describe(name)
    info["description"] = inspect.cleandoc(cls.__doc__ or "") or info.get("description", "")
    info["options"] = reg.options(name)
    info["implementation"] = f"{cls.__module__}.{cls.__qualname__}"
    from . import _accel

    if cls.__module__ in _accel.USERS:  # compiled (mypyc) or pure Python, and why
        info["accelerator"] = _accel.status()
    return info


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
