"""The async scheduler: samples x transform chains x targets -> generations -> verdicts -> store.

Every model call (target, translator, judge) goes through `RunContext.call`: cache lookup in the store,
per-target concurrency bound, optional requests/min and tokens/min limits, retries with exponential
backoff + jitter honouring Retry-After, a per-request timeout, and a stored record of the outcome.
Finished work is never repeated: resuming (or re-running the same spec into the same dir) skips
(probe, target) pairs already answered and judge verdicts already given.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from . import __version__
from .errors import UsageError
from .registry import registry
from .spec import RunSpec, TargetSpec, dump_spec, target_spec
from .taxonomy import dataset_taxonomy
from .results import Store, write_summary
from .targets.base import ProviderError
from .text import expecting
from .transforms.chain import apply_chain, build_chain, decode_chain
from .types import CONTENT_FILTER, ERROR, JUDGE_ERROR, OK, GenParams, Generation, Probe, Sample, Verdict, stable_hash

log = logging.getLogger("babelsafe")


@dataclass
class Progress:
    """Live counters the CLI renders; `total` grows when a chain yields several probes per sample."""

    total: int = 0
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

    @property
    def counts(self) -> dict[str, Any]:
        return self.summary.get("counts", {})


class RateLimiter:
    """Requests/min and tokens/min budget: a token bucket refilled continuously, holding at most one
    second's worth (so a fresh run does not burst a whole minute's quota at the provider)."""

    def __init__(self, rpm: float | None, tpm: float | None):
        self.rpm, self.tpm = rpm, tpm
        self._cap_r = max(1.0, (rpm or 0) / 60)
        self._cap_t = max(1.0, (tpm or 0) / 60)
        self._req, self._tok = self._cap_r, self._cap_t
        self._t = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                dt, self._t = now - self._t, now
                if self.rpm:
                    self._req = min(self._cap_r, self._req + dt * self.rpm / 60)
                if self.tpm:
                    self._tok = min(self._cap_t, self._tok + dt * self.tpm / 60)
                need_r = 0.0 if not self.rpm or self._req >= 1 else (1 - self._req) * 60 / self.rpm
                tok = min(tokens, self._cap_t)  # a request bigger than the bucket waits for a full bucket
                need_t = 0.0 if not self.tpm or self._tok >= tok else (tok - self._tok) * 60 / self.tpm
                wait = max(need_r, need_t)
                if wait <= 0:
                    if self.rpm:
                        self._req -= 1
                    if self.tpm:
                        self._tok -= tok
                    return
                await asyncio.sleep(wait)


def estimate_tokens(text: str) -> int:
    """Rough token count: ~4 chars per token for alphabetic scripts, ~1 per char for CJK/Thai."""
    wide = sum(1 for ch in text if ord(ch) >= 0x0E00)
    return max(1, (len(text) - wide) // 4 + wide)


@dataclass
class _TargetSlot:
    """A built target with its limits."""

    label: str
    target: Any
    params: GenParams
    system_prompt: str | None
    sem: asyncio.Semaphore
    limiter: RateLimiter
    identity_hash: str
    params_dict: dict[str, Any]


def _accepts(cls: Any, kw: str) -> bool:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return kw in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


class RunContext:
    """The ModelContext handed to transforms and judges, and the runner's own call path."""

    def __init__(self, spec: RunSpec, store: Store,
                 limiter_factory: Callable[[TargetSpec], RateLimiter] | None = None):
        self.spec = spec
        self.store = store
        # who enforces RPM/TPM: a bucket per target here, or one shared by every worker of a cluster
        self._limiter_factory = limiter_factory or (
            lambda t: RateLimiter(t.rpm or self.spec.rpm, t.tpm or self.spec.tpm))
        self.seed = spec.seed
        self.use_cache = spec.cache
        self._slots: dict[int, _TargetSlot] = {}  # id(target) -> slot
        self._aux: dict[str, Any] = {}
        self._inflight: dict[str, asyncio.Future[Generation]] = {}
        # keys with a stored answer: a miss costs a set lookup, not a query
        self._known: set[str] = store.cached_keys() if spec.cache else set()
        self.calls_made = 0

    # -- targets -------------------------------------------------------------------------------
    def build_target(self, tspec: TargetSpec) -> _TargetSlot:
        opts = tspec.constructor_options()
        cls = registry("target").get(tspec.type)
        if _accepts(cls, "timeout"):
            opts.setdefault("timeout", self.spec.timeout)
        conc = tspec.concurrency or self.spec.concurrency
        if _accepts(cls, "max_connections"):  # one pooled connection per request in flight, no more
            opts.setdefault("max_connections", conc)
        target = registry("target").build(tspec.type, opts, self)
        if tspec.defenses:
            from .defense.layers import wrap_target

            target = wrap_target(target, tspec.defenses, self)
        params = GenParams(temperature=tspec.temperature, max_tokens=tspec.max_tokens, top_p=tspec.top_p,
                           seed=tspec.seed if tspec.seed is not None else self.spec.seed, stop=tspec.stop,
                           extra_body=tspec.extra_body)
        return self._add_slot(target, tspec.display, params, conc, tspec.system_prompt,
                              self._limiter_factory(tspec))

    def _add_slot(self, target: Any, label: str, params: GenParams, concurrency: int,
                  system_prompt: str | None = None, limiter: RateLimiter | None = None) -> _TargetSlot:
        cap = getattr(target, "max_concurrency", None)
        if cap:
            concurrency = min(concurrency, int(cap))
        slot = _TargetSlot(label, target, params, system_prompt, asyncio.Semaphore(concurrency),
                           limiter or RateLimiter(None, None), stable_hash(target.identity()), params.as_dict())
        self._slots[id(target)] = slot
        return slot

    def register(self, target: Any, label: str | None = None, concurrency: int | None = None) -> _TargetSlot:
        """Make an already-built target callable through `call` (e.g. a model wrapped by a defense layer)."""
        slot = self._slots.get(id(target))
        if slot is not None:
            return slot
        return self._add_slot(target, label or getattr(target, "name", "target"), GenParams(seed=self.spec.seed),
                              concurrency or self.spec.concurrency)

    async def aclose(self) -> None:
        """Close every target this context built or registered."""
        for slot in list(self._slots.values()):
            close = getattr(slot.target, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # a failing close must not hide the run's result
                    log.debug("closing %s failed", slot.label, exc_info=True)

    def target(self, spec: str | dict[str, Any]) -> Any:
        """Build an auxiliary target (translator, judge model) once per run."""
        key = stable_hash(spec)
        if key not in self._aux:
            tspec = target_spec(spec)
            slot = self.build_target(tspec)
            self.store.write_component("aux_target", tspec.display,
                                       {"identity": slot.target.identity(), "params": slot.params.as_dict()})
            self._aux[key] = slot.target
        return self._aux[key]

    # -- the one call path ---------------------------------------------------------------------
    def cache_key(self, target: Any, messages: list[dict[str, str]], params: GenParams) -> str:
        slot = self._slots.get(id(target))
        ident = slot.identity_hash if slot else stable_hash(target.identity())
        pd = slot.params_dict if slot is not None and params is slot.params else params.as_dict()
        return stable_hash([ident, pd, messages])

    async def call(self, target: Any, messages: list[dict[str, str]], params: GenParams | None = None,
                   purpose: str = "aux") -> Generation:
        slot = self._slots.get(id(target))
        if slot is None:  # a target built outside the context (e.g. by a component): register it
            slot = self.register(target)
        params = params or slot.params
        key = self.cache_key(target, messages, params)
        if self.use_cache:
            fut = self._inflight.get(key)
            if fut is not None:  # the same call is already on its way: share it
                g = await asyncio.shield(fut)
                return Generation(**{**_gen_dict(g), "cached": True})
            if key in self._known:
                hit = self.store.cached_call(key)
                if hit is None:  # answered earlier in this session, not yet committed
                    self.store.flush()
                    hit = self.store.cached_call(key)
                if hit is not None:
                    hit.cache_key = key
                    return hit
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            g = await self._call_with_retries(slot, messages, params)
            g.cache_key = key
            pd = slot.params_dict if params is slot.params else params.as_dict()
            request: dict[str, Any] = {"messages": messages, "params": pd}
            if g.sent:  # a defended target: what its layers sent to the model (e.g. with the safety prompt)
                request["sent"] = g.sent
            self.store.write_call(key, slot.label, purpose, request, g)
            if g.outcome != ERROR:
                self._known.add(key)
            fut.set_result(g)
            return g
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(key, None)

    async def _call_with_retries(self, slot: _TargetSlot, messages: list[dict[str, str]],
                                 params: GenParams) -> Generation:
        retries = self.spec.retries
        est = sum(estimate_tokens(m.get("content", "")) for m in messages) + params.max_tokens
        last: ProviderError | None = None
        for attempt in range(retries + 1):
            await slot.limiter.acquire(est)
            async with slot.sem:
                self.calls_made += 1
                try:
                    g = await _with_timeout(slot.target.generate(messages, params), self.spec.timeout + 5)
                    g.attempts = attempt + 1
                    return g
                except ProviderError as e:
                    last = e
                except asyncio.TimeoutError:
                    last = ProviderError("timeout", f"no answer within {self.spec.timeout:g}s", retryable=True)
                except (ConnectionError, OSError) as e:
                    last = ProviderError("connection", f"{type(e).__name__}: {e}", retryable=True)
            if last.kind == "content_filter":
                return Generation(text="", outcome=CONTENT_FILTER, finish_reason="content_filter",
                                  error=str(last), error_kind=last.kind, attempts=attempt + 1)
            if not last.retryable or attempt == retries:
                break
            delay = min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
            if last.retry_after is not None:
                delay = max(delay * 0.1, min(last.retry_after, 120.0))
            log.debug("retrying %s after %s (%.2fs)", slot.label, last.kind, delay)
            await asyncio.sleep(delay)
        assert last is not None
        return Generation(text=None, outcome=ERROR, error=str(last), error_kind=last.kind,
                          attempts=min(attempt + 1, retries + 1))


async def _with_timeout(coro: Any, seconds: float) -> Any:
    """Await with a deadline; asyncio.timeout (3.11+) avoids wait_for's extra task per call."""
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)  # pragma: no cover - Python 3.10


def _gen_dict(g: Generation) -> dict[str, Any]:
    return {f: getattr(g, f) for f in g.__slots__}  # type: ignore[attr-defined]


# -- samples -------------------------------------------------------------------------------------
def load_samples(spec: RunSpec, taxonomies: dict[str, str] | None = None) -> list[Sample]:
    """Samples from every dataset, filtered by language/category, `limit` per (dataset, language).
    taxonomies: filled with dataset name -> the category taxonomy the dataset declares.

    Limiting ranks items by a seeded hash of their id, so parallel datasets keep the same prompts in
    every language (needed for cross-lingual consistency) and the choice is stable across resumes."""
    from .datasets import resolve

    out: list[Sample] = []
    cats = {c.lower() for c in spec.categories} if spec.categories else None
    for dspec in spec.datasets:
        opts = dict(dspec.options)
        opts.setdefault("skip_bad_rows", spec.skip_bad_rows)
        ds = resolve(dspec.name, opts)
        by_lang: dict[str, list[Sample]] = {}
        for s in ds.load(spec.languages):
            if spec.languages and s.language not in spec.languages:
                continue
            if cats is not None:
                raw = str(s.meta.get("raw_category", "")).lower()
                if (s.category or "").lower() not in cats and raw not in cats:
                    continue
            by_lang.setdefault(s.language, []).append(s)
        if spec.languages:
            missing = [lang for lang in spec.languages if lang not in by_lang]
            if missing and not by_lang:
                avail = getattr(ds, "languages", None)
                raise UsageError(f"Dataset '{dspec.name}' has no prompts in {', '.join(missing)}"
                                 + (f"; it has: {', '.join(avail)}." if avail else "."))
            for lang in missing:
                log.warning("dataset %s has no prompts in %s", dspec.name, lang)
        if taxonomies is not None:
            declared = getattr(ds, "taxonomy", None)
            for name in {s.dataset for items in by_lang.values() for s in items}:
                taxonomies[name] = declared if isinstance(declared, str) else dataset_taxonomy(name)
        for lang, items in by_lang.items():
            if spec.limit is not None and len(items) > spec.limit:
                items = sorted(items, key=lambda s: hashlib.sha256(f"{spec.seed}:{s.id}".encode()).digest())
                items = items[: spec.limit]
            out.extend(items)
    return out


def initial_probe(sample: Sample) -> Probe:
    msgs = []
    if sample.meta.get("system"):
        msgs.append({"role": "system", "content": str(sample.meta["system"])})
    msgs.append({"role": "user", "content": sample.prompt})
    return Probe(sample=sample, messages=msgs, language=sample.language)


def with_system(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend a target's system prompt (merged with a probe's own system message, target's first)."""
    if not system_prompt:
        return messages
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{system_prompt}\n\n{messages[0]['content']}"}] + messages[1:]
    return [{"role": "system", "content": system_prompt}] + messages


# -- the runner ----------------------------------------------------------------------------------
class Runner:
    """Runs a RunSpec into its output directory. `on_progress(progress)` is called as work finishes."""

    def __init__(self, spec: RunSpec, on_progress: Callable[[Progress], None] | None = None, *,
                 sample_filter: Callable[[Sample], bool] | None = None, summarize: bool = True,
                 limiter_factory: Callable[[TargetSpec], RateLimiter] | None = None):
        """sample_filter / summarize / limiter_factory: how an executor runs one shard of a run (only the
        samples of the shard, no summary.json of its own, the cluster's shared RPM/TPM buckets)."""
        self.spec = spec
        self.sample_filter = sample_filter
        self.summarize = summarize
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
        ctx = RunContext(self.spec, store, self.limiter_factory)
        slots: list[_TargetSlot] = []
        judges: list[tuple[str, Any]] = []
        try:
            (self.run_dir / "spec.yaml").write_text(dump_spec(self.spec), encoding="utf-8")
            taxonomies: dict[str, str] = {}
            samples = load_samples(self.spec, taxonomies)
            if self.sample_filter is not None:
                samples = [s for s in samples if self.sample_filter(s)]
            log.info("babelsafe %s: %d samples x %d chains x %d targets -> %s", __version__, len(samples),
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
            for name, taxonomy in sorted(taxonomies.items()):
                store.write_dataset(name, taxonomy)
            for s in samples:
                store.write_sample(s)
            finished = store.finished() if self.spec.cache else {}
            judged = store.judged() if self.spec.cache else set()
            self.progress.total = len(samples) * len(chains) * len(slots)
            units: Iterator[tuple[Sample, list]] = ((s, c) for s in samples for c in chains)
            n_workers = max(min(t.concurrency or self.spec.concurrency,
                                getattr(s.target, "max_concurrency", None) or 10**9)
                            for s, t in zip(slots, self.spec.targets))
            workers = [asyncio.create_task(self._worker(units, ctx, slots, judges, finished, judged))
                       for _ in range(max(1, n_workers))]
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
        summary = (finalize(self.run_dir, self.spec, interrupted=self.interrupted) if self.summarize
                   else {"interrupted": self.interrupted})
        return RunResult(self.run_dir, summary, self.progress, self.interrupted)

    async def _worker(self, units: Iterator[tuple[Sample, list]], ctx: RunContext, slots: list[_TargetSlot],
                      judges: list[tuple[str, Any]], finished: dict, judged: set) -> None:
        while not self._stop.is_set():
            try:
                sample, chain = next(units)
            except StopIteration:
                return
            probes = await self._build_probes(sample, chain, ctx)
            extra = len(probes) - 1
            if extra:
                self.progress.total += extra * len(slots)
            if len(probes) > 1 and all("adaptive_rank" in p.meta for p in probes):
                await asyncio.gather(*(self._adaptive(probes, chain, slot, ctx, judges, finished, judged)
                                       for slot in slots))
                continue
            for probe in probes:
                ctx.store.write_probe(probe)
                if len(slots) == 1:  # the common case: no task per request
                    await self._one(probe, chain, slots[0], ctx, judges, finished, judged)
                else:
                    await asyncio.gather(*(self._one(probe, chain, slot, ctx, judges, finished, judged)
                                           for slot in slots))

    async def _adaptive(self, probes: list[Probe], chain: list, slot: _TargetSlot, ctx: RunContext,
                        judges: list[tuple[str, Any]], finished: dict, judged: set) -> None:
        """MultiJail's adaptive attack: try the pool's languages in rank order and stop at the first
        unsafe answer; the languages not tried are never sent (attempts = generations stored)."""
        from .labels import is_unsafe

        harmful = probes[0].sample.meta.get("label") != "benign"
        ordered = sorted(probes, key=lambda p: p.meta["adaptive_rank"])
        for i, probe in enumerate(ordered):
            ctx.store.write_probe(probe)
            labels = await self._one(probe, chain, slot, ctx, judges, finished, judged)
            if any((probe.key, slot.label, j) in judged for j, _ in judges):
                labels += ctx.store.verdict_labels(probe.key, slot.label)
            if any(is_unsafe(lab, harmful) for lab in labels):
                skipped = len(ordered) - i - 1
                self.progress.total -= skipped
                log.info("adaptive: %s/%s unsafe in %s after %d attempt(s); %d language(s) not tried",
                         probe.sample.dataset, probe.sample.id, probe.language, i + 1, skipped)
                return

    async def _build_probes(self, sample: Sample, chain: list, ctx: RunContext) -> list[Probe]:
        return await apply_chain(initial_probe(sample), chain, ctx)

    async def _one(self, probe: Probe, chain: list, slot: _TargetSlot, ctx: RunContext,
                   judges: list[tuple[str, Any]], finished: dict, judged: set) -> list[str]:
        """Answer one probe with one target and judge it; returns the new verdict labels."""
        pk, tl = probe.key, slot.label
        labels: list[str] = []
        prev = finished.get((pk, tl))
        if probe.meta.get("transform_error"):  # the chain failed or does not apply: never sent, counted
            kind = "not_applicable" if probe.meta.get("transform_skipped") else "transform"
            gen = Generation(text=None, outcome=ERROR, error=str(probe.meta["transform_error"]),
                             error_kind=kind, attempts=0)
            ctx.store.write_generation(pk, tl, "", gen)
            self.progress.errors += 1
        elif probe.sample.meta.get("task"):  # a multi-step task (e.g. an agent loop): see run_task
            gen = await run_task(probe, slot, ctx)
            ctx.store.write_generation(pk, tl, gen.cache_key or "", gen)
            if gen.outcome == ERROR:
                self.progress.errors += 1
        elif prev in (OK, CONTENT_FILTER):
            gen = ctx.store.stored_generation(pk, tl)
            gen.cached = True
            self.progress.cached += 1
        else:
            messages = with_system(probe.messages, slot.system_prompt)
            with expecting(probe.language):  # the language prior of defense layers (babelsafe.text)
                gen = await ctx.call(slot.target, messages, slot.params, purpose="target")
            if gen.outcome == OK:
                gen.decoded = decode_chain(probe, gen.text or "", chain)
            ctx.store.write_generation(pk, tl, gen.cache_key or "", gen)
            if gen.outcome == ERROR:
                self.progress.errors += 1
                log.warning("%s on %s [%s/%s]: %s", gen.error_kind, tl, probe.sample.dataset, probe.sample.id,
                            gen.error)
        if gen.outcome == OK:
            for jname, judge in judges:
                if (pk, tl, jname) in judged:
                    continue
                try:
                    v = await judge.judge(probe, gen)
                except Exception as e:  # a judge failure is its own outcome, never a label
                    v = Verdict(judge=jname, label=JUDGE_ERROR, error=f"{type(e).__name__}: {e}")
                v.judge = jname
                ctx.store.write_verdict(pk, tl, v)
                labels.append(v.label)
        self.progress.done += 1
        self.on_progress(self.progress)
        return labels


async def run_task(probe: Probe, slot: _TargetSlot, ctx: RunContext) -> Generation:
    """Answer a probe whose sample names a task (registry kind "task", babelsafe.tasks.Task, e.g. "agent"). Always run, also on resume: its model calls are cache hits there, so finished steps replay
    from the store without a model call and the judges get the task's full trace again."""
    task = registry("task").build(str(probe.sample.meta["task"]))
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
    from .metrics import summarize

    summary = summarize(run_dir / "results.sqlite", spec_tiers=spec.tiers)
    summary["interrupted"] = interrupted
    write_summary(run_dir, summary)
    return summary


def plan(spec: RunSpec) -> dict[str, Any]:
    """The dry-run plan: samples x chains x targets = requests, with token estimates."""
    samples = load_samples(spec)
    per_lang: dict[str, int] = {}
    for s in samples:
        per_lang[s.language] = per_lang.get(s.language, 0) + 1
    n_req = len(samples) * len(spec.transforms) * len(spec.targets)
    prompt_tokens = sum(estimate_tokens(s.prompt) for s in samples) * len(spec.transforms) * len(spec.targets)
    return {
        "samples": len(samples), "by_language": per_lang, "chains": [">".join(x.name for x in c) or "none"
                                                                      for c in spec.transforms],
        "targets": [t.display for t in spec.targets], "requests": n_req,
        "est_prompt_tokens": prompt_tokens,
        "max_completion_tokens": sum(t.max_tokens for t in spec.targets) * len(samples) * len(spec.transforms),
        "judges": [j.name for j in spec.judges], "out": spec.out,
        "note": "token estimates cover the dataset prompts; templates and model-based transforms add more",
    }

