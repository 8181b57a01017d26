"""The async scheduler: samples x transform chains x targets -> generations -> verdicts -> store.

Every model call goes through the run's ModelCaller (engine/caller.py) on a StoreCache, so finished
work is never repeated: resuming (or re-running the same spec into the same dir) skips (probe, target)
pairs already answered and judge verdicts already given.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import __version__
from ..errors import UsageError
from ..registry import registry
from ..results import Store, write_summary
from ..spec import RunSpec, dump_spec
from ..text import expecting
from ..transforms.chain import apply_chain, build_chain, decode_chain
from ..types import (CONTENT_FILTER, ERROR, JUDGE_ERROR, OK, Generation, Probe, Sample, Verdict, canonical_messages,
                     probe_key)
from .adaptive import is_adaptive, run_adaptive
from .caller import ModelCaller, RunCaller, TargetSlot
from .samples import initial_probe, load_samples, with_system

log = logging.getLogger("babelsafe")
_GC_YOUNG = 7000  # the first generation's threshold during a run (Python's default: 700)


@dataclass
class Progress:
    """Live counters the CLI renders; `total` grows when a chain yields several probes per sample."""

    total: int = 0  # grows while the samples stream in (exact once they are all pulled)
    samples: int = 0  # samples pulled from the datasets so far
    done: int = 0
    errors: int = 0
    cached: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    progress: Progress
    interrupted: bool = False
    report: Path | None = None  # report.html, when the run wrote it (Runner(report=True))

    @property
    def counts(self) -> dict[str, Any]:
        return self.summary.get("counts", {})


class Runner:
    """Runs a RunSpec into its output directory. `on_progress(progress)` is called as work finishes."""

    def __init__(self, spec: RunSpec, on_progress: Callable[[Progress], None] | None = None, *,
                 sample_filter: Callable[[Sample], bool] | None = None, summarize: bool = True,
                 limiter_factory: Callable[[Any], Any] | None = None, sample_source: Any = None,
                 report: bool = False):
        """sample_filter / summarize / limiter_factory: how an executor runs one shard of a run (only the
        samples of the shard, no summary.json of its own, the cluster's shared RPM/TPM buckets).
        sample_source: samples handed out while the run goes (an executor's work queue): an object with
        `async take(want) -> list[Sample]`, [] when there is no more, and `taxonomies` (dataset name ->
        taxonomy); only those samples run and the spec's datasets are not read.
        report: end with report.html, results.csv and results.parquet too (one read of the store
        serves them and summary.json; see `finalize`)."""
        self.spec = spec
        self.sample_filter = sample_filter
        self.sample_source = sample_source
        self.summarize = summarize
        self.report = report
        self.limiter_factory = limiter_factory
        self.run_dir = Path(spec.out)
        self.on_progress = on_progress or (lambda p: None)
        self.progress = Progress()
        self._stop = asyncio.Event()
        self.interrupted = False

    def request_stop(self) -> None:
        """Stop taking new work; in-flight requests are cancelled, finished work is kept."""
        self.interrupted = True
        self._stop.set()

    async def run(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handler = _attach_log(self.run_dir / "run.log")
        store = Store(self.run_dir / "results.sqlite")
        self.store = store
        ctx = RunCaller(self.spec, store, self.limiter_factory)
        judges: list[tuple[str, Any]] = []
        try:
            (self.run_dir / "spec.yaml").write_text(dump_spec(self.spec), encoding="utf-8")
            taxonomies: dict[str, str] = {}
            samples: Iterator[Sample] = iter(())
            if self.sample_source is None:  # a stream, never a list
                samples = load_samples(self.spec, taxonomies)
                if self.sample_filter is not None:
                    samples = filter(self.sample_filter, samples)
            log.info("babelsafe %s: samples (streamed) x %d chains x %d targets -> %s", __version__,
                     len(self.spec.transforms), len(self.spec.targets), self.run_dir)
            store.write_meta("spec", self.spec.model_dump(mode="json"))
            store.write_meta("babelsafe_version", __version__)
            store.write_meta("started", str(time.time()))
            slots = [ctx.build_target(t) for t in self.spec.targets]
            labels = [s.label for s in slots]
            if len(set(labels)) != len(labels):
                raise UsageError(f"Two targets share the label {labels}; give each a distinct `label`.")
            for s, t in zip(slots, self.spec.targets):
                store.write_component("target", s.label, {
                    "identity": s.target.identity(), "params": s.params.as_dict(),
                    "system_prompt": t.system_prompt, "defenses": [d.model_dump() for d in t.defenses]})
            judges = [(j.name, registry("judge").build(j.name, j.options, ctx)) for j in self.spec.judges]
            saved = store.judge_states()
            for (jname, judge), jspec in zip(judges, self.spec.judges):
                store.write_component("judge", jname, {"options": jspec.options,
                                                       "labels": list(getattr(judge, "labels", ()))})
                if jname in saved and hasattr(judge, "load_state"):  # e.g. online ensemble weights
                    judge.load_state(saved[jname])
            chains = [build_chain(chain, ctx) for chain in self.spec.transforms]
            for chain in self.spec.transforms:
                store.write_component("transform", ">".join(s.name for s in chain) or "none",
                                      {"steps": [s.model_dump() for s in chain]})
            for slot in slots:  # names and options are valid: now check the endpoints answer at all
                pre = getattr(slot.target, "preflight", None)
                if pre is not None:
                    await pre()
                load = getattr(slot.target, "load", None)  # local models load before any timed call
                if load is not None:
                    await asyncio.to_thread(load)
            work = _Work(self, ctx, store, slots, judges)
            n_workers = max(1, max(min(t.concurrency or self.spec.concurrency,
                                       getattr(s.target, "max_concurrency", None) or 10**9)
                                   for s, t in zip(slots, self.spec.targets)))
            units: _Units | _PulledUnits
            if self.sample_source is not None:  # a work queue hands out the samples
                admit = _Admit(store, getattr(self.sample_source, "taxonomies", None) or {}, self.progress,
                               len(chains) * len(slots))
                units = _PulledUnits(self.sample_source, chains, admit, n_workers)
            else:  # stream: samples are pulled from the datasets as workers free up
                admit = _Admit(store, taxonomies, self.progress, len(chains) * len(slots))
                units = _Units(_units(samples, chains, admit))
            # the collector's first generation runs every 700 new container objects, and each run walks
            # every object still young: the state of hundreds of requests in flight. Ten times fewer runs
            # while the workers go (objects are freed by reference counting as before; cycles later)
            threshold = gc.get_threshold()
            gc.set_threshold(max(threshold[0], _GC_YOUNG), *threshold[1:])
            try:
                await self._drive(units, work, n_workers)
            finally:
                gc.set_threshold(*threshold)
            log.info("%d samples fed to the workers", self.progress.samples)
        finally:
            await ctx.aclose()
            for jname, judge in judges:
                if hasattr(judge, "state"):
                    store.write_component("judge_state", jname, judge.state())
            store.write_meta("finished", str(time.time()))
            store.write_meta("interrupted", "1" if self.interrupted else "0")
            store.close()
            log.removeHandler(handler)
            handler.close()
        report: Path | None = None
        if not self.summarize:
            summary: dict[str, Any] = {"interrupted": self.interrupted}
        elif self.report:
            summary, report = finalize_with_report(self.run_dir, self.spec, interrupted=self.interrupted)
        else:
            summary = finalize(self.run_dir, self.spec, interrupted=self.interrupted)
        return RunResult(self.run_dir, summary, self.progress, self.interrupted, report)

    async def _drive(self, units: "_Units | _PulledUnits", work: "_Work", n_workers: int) -> None:
        """`n_workers` tasks pull (sample, chain) units until done or stopped; a worker's exception
        ends the run."""
        workers = [asyncio.create_task(self._worker(units, work)) for _ in range(n_workers)]
        stopper = asyncio.create_task(self._stop.wait())
        try:
            pending = set(workers)
            while pending and not self._stop.is_set():
                done, _ = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
                for w in done:
                    if w is not stopper and not w.cancelled() and w.exception():
                        raise w.exception()  # type: ignore[misc]
                pending -= done
        finally:
            for w in workers + [stopper]:
                w.cancel()
            await asyncio.gather(*workers, stopper, return_exceptions=True)

    async def _worker(self, units: "_Units | _PulledUnits", work: "_Work") -> None:
        slots = work.slots
        while not self._stop.is_set():
            unit = units.next() if isinstance(units, _Units) else await units.next()
            if unit is None:
                return
            sample, chain = unit
            probes = await apply_chain(initial_probe(sample, getattr(work.ctx, "images", None)), chain, work.ctx)
            extra = len(probes) - 1
            if extra:
                self.progress.total += extra * len(slots)
            if is_adaptive(probes):
                await asyncio.gather(*(work.adaptive(probes, chain, slot) for slot in slots))
                continue
            for probe in probes:
                # the probe's key and messages JSON once: for its row, its cache keys and call records
                sk, mj = probe.sample.key, canonical_messages(probe.messages)
                pk = probe_key(sk, probe.language, mj, probe.chain)
                work.store.write_probe(probe, pk, sk, mj)
                if len(slots) == 1:  # the common case: no task per request
                    await work.one(probe, chain, slots[0], pk, mj)
                else:
                    await asyncio.gather(*(work.one(probe, chain, slot, pk, mj) for slot in slots))


class _Units:
    """(sample, chain) units from a stream (see _units)."""

    def __init__(self, it: Iterator[tuple[Sample, list]]):
        self._it = it

    def next(self) -> tuple[Sample, list] | None:
        return next(self._it, None)


class _Admit:
    """Takes a sample into the run, once, when it is pulled (streamed or handed out by a work queue):
    its dataset's row (and taxonomy) the first time that dataset is seen, then the sample's row, then
    the progress counters. The store's writer thread commits rows in batches; a sample is in the store
    before any of its probes, so the store says which samples this run took (an executor reads that to
    resume them)."""

    def __init__(self, store: Store, taxonomies: dict[str, str], progress: Progress, units_per_sample: int):
        """taxonomies: dataset name -> taxonomy (filled while the datasets load, so read it at admission).
        units_per_sample: progress units one sample adds (chains x targets)."""
        self.store, self.taxonomies, self.progress = store, taxonomies, progress
        self.per_sample = units_per_sample
        self.datasets: set[str] = set()

    def __call__(self, s: Sample) -> None:
        if s.dataset not in self.datasets:
            self.datasets.add(s.dataset)
            self.store.write_dataset(s.dataset, self.taxonomies.get(s.dataset))
        self.store.write_sample(s)
        self.progress.samples += 1
        self.progress.total += self.per_sample


class _PulledUnits:
    """(sample, chain) units of the samples a source hands out while the run goes (the Ray executor's
    work queue); each sample is admitted (see _Admit) when it arrives."""

    def __init__(self, source: Any, chains: list, admit: _Admit, want: int):
        self.source, self.chains, self.admit, self.want = source, chains, admit, want
        self.buf: deque[tuple[Sample, list]] = deque()
        self.lock = asyncio.Lock()
        self.exhausted = False

    async def next(self) -> tuple[Sample, list] | None:
        while not self.buf:
            if self.exhausted:
                return None
            async with self.lock:  # one fetch at a time; the others wait for its samples
                if self.buf or self.exhausted:
                    continue
                samples = await self.source.take(self.want)
                if not samples:
                    self.exhausted = True
                    continue
                for s in samples:
                    self.admit(s)
                    self.buf.extend((s, c) for c in self.chains)
        return self.buf.popleft()


def _units(samples: Iterator[Sample], chains: list, admit: _Admit) -> Iterator[tuple[Sample, list]]:
    """The run's work as a stream of (sample, chain) units. Workers pull one unit each when free, so
    at most one unit per worker is pending and the dataset is never materialised. Each sample is
    admitted (see _Admit) when it is pulled, so `progress.total` grows as samples are pulled."""
    for s in samples:
        admit(s)
        for c in chains:
            yield s, c


class _Work:
    """Answering and judging one probe with one target (what workers do), with what is already done."""

    def __init__(self, runner: Runner, ctx: ModelCaller, store: Store, slots: list[TargetSlot],
                 judges: list[tuple[str, Any]]):
        self.runner, self.ctx, self.store, self.slots, self.judges = runner, ctx, store, slots, judges
        self.progress = runner.progress
        cache = runner.spec.cache
        self.finished: dict[tuple[str, str], str] = store.finished() if cache else {}
        self.judged: set[tuple[str, str, str]] = store.judged() if cache else set()
        self.tasks: dict[str, type] = {}  # (see run_task)

    async def adaptive(self, probes: list[Probe], chain: list, slot: TargetSlot) -> None:
        async def answer(probe: Probe) -> list[str]:
            self.store.write_probe(probe)
            return await self.one(probe, chain, slot)

        def stored(probe: Probe) -> list[str]:
            if any((probe.key, slot.label, j) in self.judged for j, _ in self.judges):
                return self.store.verdict_labels(probe.key, slot.label)
            return []

        def skip(n: int) -> None:
            self.progress.total -= n

        await run_adaptive(probes, answer, stored, skip)

    async def one(self, probe: Probe, chain: list, slot: TargetSlot, pk: str | None = None,
                  messages_json: str | None = None) -> list[str]:
        """Answer one probe with one target and judge it; returns the new verdict labels.
        pk / messages_json: probe.key and canonical_json(probe.messages) when the caller has them."""
        pk, tl = pk or probe.key, slot.label
        store, progress = self.store, self.progress
        labels: list[str] = []
        prev = self.finished.get((pk, tl))
        if probe.meta.get("transform_error"):  # the chain failed or does not apply: never sent, counted
            kind = "not_applicable" if probe.meta.get("transform_skipped") else "transform"
            gen = Generation(text=None, outcome=ERROR, error=str(probe.meta["transform_error"]),
                             error_kind=kind, attempts=0)
            store.write_generation(pk, tl, "", gen)
            progress.errors += 1
        elif probe.sample.meta.get("task"):  # a multi-step task (e.g. an agent loop): see run_task
            gen = await run_task(probe, slot, self.ctx, self.tasks)
            store.write_generation(pk, tl, gen.cache_key or "", gen)
            if gen.outcome == ERROR:
                progress.errors += 1
        elif prev in (OK, CONTENT_FILTER):
            progress.cached += 1
            judged = self.judged
            if prev == CONTENT_FILTER or all((pk, tl, j) in judged for j, _ in self.judges):
                progress.done += 1  # answered and judged: nothing to read or write again
                self.runner.on_progress(progress)
                return labels
            gen = store.stored_generation(pk, tl)
            gen.cached = True
        else:
            messages = with_system(probe.messages, slot.system_prompt)
            mj = messages_json if messages is probe.messages else None
            with expecting(probe.language):  # the language prior of defense layers (babelsafe.text)
                gen = await self.ctx.call(slot.target, messages, slot.params, purpose="target", messages_json=mj)
            if gen.outcome == OK:
                gen.decoded = decode_chain(probe, gen.text or "", chain)
            store.write_generation(pk, tl, gen.cache_key or "", gen)
            if gen.outcome == ERROR:
                progress.errors += 1
                log.warning("%s on %s [%s/%s]: %s", gen.error_kind, tl, probe.sample.dataset, probe.sample.id,
                            gen.error)
        if gen.outcome == OK:
            for jname, judge in self.judges:
                if (pk, tl, jname) in self.judged:
                    continue
                try:
                    v = await judge.judge(probe, gen)
                except Exception as e:  # a judge failure is its own outcome, never a label
                    v = Verdict(judge=jname, label=JUDGE_ERROR, error=f"{type(e).__name__}: {e}")
                v.judge = jname
                store.write_verdict(pk, tl, v)
                labels.append(v.label)
        progress.done += 1
        self.runner.on_progress(progress)
        return labels


async def run_task(probe: Probe, slot: TargetSlot, ctx: ModelCaller,
                   made: dict[str, type] | None = None) -> Generation:
    """Answer a probe whose sample names a task (registry kind "task", babelsafe.tasks.Task, e.g. "agent").
    Always run, also on resume: its model calls are cache hits there, so finished steps replay from the
    store without a model call and the judges get the task's full trace again.
    made: task name -> its class, for a run's probes: the registry builds (and checks) a task the first
    time; then the class is called as the registry would call it (no options), without its checks again
    (they read the class's signature: ~0.2 ms a probe)."""
    name = str(probe.sample.meta["task"])
    cls = made.get(name) if made is not None else None
    if cls is None:
        task = registry("task").build(name)
        if made is not None:
            made[name] = type(task)
    else:
        task = cls()
    return await task.run(probe, slot, ctx)


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    return handler


def finalize(run_dir: Path, spec: RunSpec, interrupted: bool = False) -> dict[str, Any]:
    """Compute summary.json from the store (metrics read only the store)."""
    from ..metrics import summarize

    summary = summarize(run_dir / "results.sqlite", spec_tiers=spec.tiers)
    summary["interrupted"] = interrupted
    write_summary(run_dir, summary)
    return summary


def finalize_with_report(run_dir: Path, spec: RunSpec, interrupted: bool = False
                         ) -> tuple[dict[str, Any], Path | None]:
    """summary.json, report.html, results.csv and results.parquet, from one read of the store where it
    can (reporting.exports.summarize_and_export). When the report fails, the summary is still written
    and the error logged: (summary, None), and the caller may retry the report on its own."""
    from ..reporting.html import write_report_and_summary

    try:
        path, summary = write_report_and_summary(run_dir, recompute=True, spec_tiers=spec.tiers,
                                                 extra={"interrupted": interrupted})
        return summary, path
    except Exception:  # noqa: BLE001 - the run's results are safe in the store; say so and go on
        log.exception("the report failed at the end of the run; the summary is computed without it. "
                      "Run `babelsafe report %s` to retry it", run_dir)
    return finalize(run_dir, spec, interrupted), None
