"""The Ray executor: one run spread across Ray actors, with one store, one cache and the same resume.

Design (docs/distributed.md says why):
- The driver loads the samples once, so a bad dataset or option fails before anything starts, and puts
  their keys in a work queue (a Ray actor). Workers pull small chunks from it as they go (guided
  self-scheduling: chunks shrink as the queue empties, never more than a worker has slots for), so a
  fast worker takes more and none idles while another still has a backlog.
- Each worker actor runs the ordinary engine (the same Runner: cache, in-flight sharing, retries, judges)
  on the samples it pulls, into its slot's run dir `RUN/shards/K/` with its own store. A sample is
  written to the slot's store when pulled, before any call, so the stores say who took what. Its targets
  live in the actor (a local model or vLLM per GPU loads once per worker).
- Provider limits stay global: one RateLimit actor holds the RPM/TPM buckets of every target and every
  worker reserves from it; per-target concurrency is a cluster-wide budget split across the workers.
- When a worker dies, a fresh actor takes its slot and resumes the slot's store; of what the dead worker
  had pulled, the samples its store has go back to the slot (their finished calls are cache hits there)
  and the rest back to the shared queue. When the driver dies, `babelsafe resume RUN` rebuilds the queue
  the same way from the slot stores: every sample a store has stays with that slot, so no finished call
  is repeated.
- At the end the slot stores are merged into RUN/results.sqlite and the summary is computed from it,
  exactly as for a local run.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import __version__
from ..errors import UsageError
from ..spec import RunSpec, TargetSpec, dump_spec
from ..types import Sample
from .queue import QueueSource, SampleQueue, pack, stored_samples

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"
DEFAULT_WORKERS = 2
_POLL_S = 0.5


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise UsageError("The Ray executor needs Ray: pip install 'babelsafe[ray]' (or run without "
                         "--executor ray).") from e
    return ray


def shard_spec(spec: RunSpec, index: int, workers: int, run_dir: Path) -> RunSpec:
    """The spec a worker runs: the run's spec in the slot's dir, concurrency split across the workers, and a
    local model's threads set to the CPUs the worker holds (when not given) so workers do not
    oversubscribe the node's cores."""
    def split(c: int | None) -> int | None:
        return None if c is None else max(1, math.ceil(c / workers))

    threads = max(1, int(spec.executor.cpus_per_worker))

    def target(t: TargetSpec) -> TargetSpec:
        update: dict[str, Any] = {"concurrency": split(t.concurrency)}
        if t.type == "local" and "n_threads" not in t.options:
            update["options"] = {**t.options, "n_threads": threads}
        return t.model_copy(update=update)

    targets = [target(t) for t in spec.targets]
    return spec.model_copy(update={
        "out": str(run_dir / SHARDS_DIR / str(index)), "concurrency": split(spec.concurrency),
        "targets": targets, "executor": spec.executor.model_copy(update={"name": "local"})})


# -- the shared rate limit -------------------------------------------------------------------------
class RateBuckets:
    """RPM/TPM token buckets per target label, shared by all workers (runs inside one Ray actor).

    Reservation style: `reserve` books the request now and returns how long the caller must wait before
    sending, so the actor never blocks and a burst of workers is spread over time in arrival order."""

    def __init__(self) -> None:
        self._b: dict[str, list[float]] = {}  # label -> [rpm, tpm, req, tok, t]

    def reserve(self, label: str, rpm: float | None, tpm: float | None, tokens: int) -> float:
        if not rpm and not tpm:
            return 0.0
        now = time.monotonic()
        b = self._b.setdefault(label, [rpm or 0, tpm or 0, max(1.0, (rpm or 0) / 60), max(1.0, (tpm or 0) / 60),
                                       now])
        r_rate, t_rate, req, tok, t = b
        dt = now - t
        cap_r, cap_t = max(1.0, r_rate / 60), max(1.0, t_rate / 60)
        if r_rate:
            req = min(cap_r, req + dt * r_rate / 60)
        if t_rate:
            tok = min(cap_t, tok + dt * t_rate / 60)
        tokens = min(tokens, cap_t)
        # take now (may go negative): the deficit is the wait
        wait = 0.0
        if r_rate:
            req -= 1
            wait = max(wait, -req * 60 / r_rate if req < 0 else 0.0)
        if t_rate:
            tok -= tokens
            wait = max(wait, -tok * 60 / t_rate if tok < 0 else 0.0)
        b[2], b[3], b[4] = req, tok, now
        return wait


class RemoteLimiter:
    """The engine's limiter interface (`await acquire(tokens)`) over the cluster's RateBuckets actor."""

    def __init__(self, actor: Any, label: str, rpm: float | None, tpm: float | None):
        self.actor, self.label, self.rpm, self.tpm = actor, label, rpm, tpm

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        wait = await self.actor.reserve.remote(self.label, self.rpm, self.tpm, tokens)
        if wait > 0:
            await asyncio.sleep(wait)


class RemoteLimiterFactory:
    """Picklable: builds a RemoteLimiter per target inside the worker."""

    def __init__(self, actor: Any, spec: RunSpec):
        self.actor, self.rpm, self.tpm = actor, spec.rpm, spec.tpm

    def __call__(self, t: TargetSpec) -> RemoteLimiter:
        return RemoteLimiter(self.actor, t.display, t.rpm or self.rpm, t.tpm or self.tpm)


# -- the worker ------------------------------------------------------------------------------------
class ShardWorker:
    """Runs a slot's share of the run with the ordinary engine (an async Ray actor: `progress` answers while `run` works)."""

    def __init__(self) -> None:
        self._runner: Any = None

    def node(self) -> tuple[str, int]:
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    async def run(self, spec: RunSpec, slot: int, queue: Any, limiter: Any,
                  taxonomies: dict[str, str]) -> dict[str, Any]:
        from ..engine import Runner

        cpu0 = time.process_time()  # this worker process's CPU (all its threads): the benchmark's tokens/CPU-s
        self._runner = Runner(spec, sample_source=QueueSource(queue, slot, taxonomies), summarize=False,
                              limiter_factory=RemoteLimiterFactory(limiter, spec) if limiter else None)
        try:
            result = await self._runner.run()
        except UsageError as e:  # travels to the driver as a plain message (no traceback wrapping)
            return {"usage_error": str(e)}
        p = result.progress
        return {"interrupted": result.interrupted, "total": p.total, "done": p.done, "errors": p.errors,
                "cached": p.cached, "cpu_s": round(time.process_time() - cpu0, 3)}

    def progress(self) -> tuple[int, int, int, int]:
        p = self._runner.progress if self._runner is not None else None
        return (p.total, p.done, p.errors, p.cached) if p else (0, 0, 0, 0)

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.request_stop()


# -- the driver ------------------------------------------------------------------------------------
class RayExecution:
    """Drives one run on Ray. `request_stop()` (Ctrl-C) stops every worker; finished work is kept."""

    def __init__(self, spec: RunSpec, on_progress: Callable[[Any], None] | None = None):
        self.spec = spec
        self.run_dir = Path(spec.out)
        self.on_progress = on_progress or (lambda p: None)
        self.interrupted = False
        self.workers = spec.executor.workers or DEFAULT_WORKERS
        self._actors: dict[int, Any] = {}
        self._restarts: dict[int, int] = {}
        self._stop_requested = False

    def request_stop(self) -> None:
        self.interrupted = True
        self._stop_requested = True
        for actor in list(self._actors.values()):
            try:
                actor.stop.remote()
            except Exception:  # noqa: BLE001 - a dead actor has nothing left to stop
                pass

    def actor_names(self) -> dict[int, str]:
        """Slot -> the Ray actor name of its current worker (tests kill workers by name)."""
        return {k: self._name(k) for k in self._actors}

    def _name(self, slot: int) -> str:
        tag = hashlib.sha256(str(self.run_dir.resolve()).encode()).hexdigest()[:10]
        return f"babelsafe-{tag}-shard-{slot}-{self._restarts.get(slot, 0)}"

    def _store(self, slot: int) -> Path:
        return self.run_dir / SHARDS_DIR / str(slot) / "results.sqlite"

    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            ex = self.spec.executor
            kwargs: dict[str, Any] = {"namespace": "babelsafe", "log_to_driver": False,
                                      "ignore_reinit_error": True}
            if ex.address:
                kwargs["address"] = ex.address
            else:  # a private local cluster on loopback, sized for the workers asked for
                kwargs.update(num_cpus=max(os.cpu_count() or 1, math.ceil(self.workers * ex.cpus_per_worker)),
                              include_dashboard=False, _node_ip_address="127.0.0.1")
            try:
                ray.init(**kwargs)
            except ConnectionError as e:
                raise UsageError(f"Cannot reach the Ray cluster at {ex.address!r} ({e}). Start one with "
                                 "`ray start --head` or drop --address for a local cluster.") from e
        return ray

    def _start(self, ray: Any, slot: int, queue: Any, limiter: Any, taxonomies: dict[str, str]) -> Any:
        ex = self.spec.executor
        cls = ray.remote(ShardWorker)
        actor = cls.options(name=self._name(slot), num_cpus=ex.cpus_per_worker, num_gpus=ex.gpus_per_worker,
                            max_concurrency=1000, max_restarts=0).remote()
        self._actors[slot] = actor
        return actor.run.remote(shard_spec(self.spec, slot, self.workers, self.run_dir), slot, queue, limiter,
                                taxonomies)

    def _queue(self, ray: Any, samples: Iterable[Sample]) -> tuple[Any, int]:
        """The work queue: the samples a slot store already has stay with that slot (resume), the rest are
        shared. Slots are the workers asked for, or more when an earlier attempt left more slot stores."""
        existing = [int(d.name) for d in (self.run_dir / SHARDS_DIR).glob("*") if d.name.isdigit()]
        slots = max([self.workers] + [k + 1 for k in existing])
        if slots > self.workers:
            log.warning("%s has %d worker slots from an earlier attempt: running %d workers (not %d) so "
                        "each resumes its own store", self.run_dir, slots, slots, self.workers)
            self.workers = slots
        owner: dict[str, int] = {}
        for k in range(slots):
            for key in stored_samples(self._store(k)):
                owner.setdefault(key, k)
        affinity: dict[int, list[Sample]] = {}
        shared: list[Sample] = []
        for s in samples:
            k = owner.get(s.key) if owner else None
            if k is not None:
                affinity.setdefault(k, []).append(s)
            else:
                shared.append(s)
        if affinity:
            log.info("resuming: %d samples stay with the worker slot that started them, %d shared",
                     sum(len(v) for v in affinity.values()), len(shared))
        packed = {k: pack(v) for k, v in affinity.items()}
        return ray.remote(SampleQueue).options(num_cpus=0).remote(pack(shared), packed, slots), slots

    def execute(self) -> Any:
        from ..results import Store
        from ..results.merge import merge_stores
        from ..engine import Progress, RunResult, finalize, load_samples

        started = time.time()
        taxonomies: dict[str, str] = {}
        samples = list(load_samples(self.spec, taxonomies))  # datasets and filters fail here, before any worker
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "spec.yaml").write_text(dump_spec(self.spec), encoding="utf-8")
        ray = self._connect()
        limiter = None
        if self.spec.rpm or self.spec.tpm or any(t.rpm or t.tpm for t in self.spec.targets):
            limiter = ray.remote(RateBuckets).options(num_cpus=0).remote()
        queue, slots = self._queue(ray, samples)
        del samples  # the queue actor holds them now
        self._queue_actor = queue
        per_sample = max(1, len(self.spec.transforms) * len(self.spec.targets))
        pending = {self._start(ray, k, queue, limiter, taxonomies): k for k in range(slots)}
        results: dict[int, dict[str, Any]] = {}
        progress = Progress()
        log.info("babelsafe %s on Ray: %d workers -> %s", __version__, slots, self.run_dir)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                for ref in done:
                    slot = pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                        if self._stop_requested:
                            continue
                        self._restarts[slot] = self._restarts.get(slot, 0) + 1
                        if self._restarts[slot] > self.spec.executor.max_restarts:
                            raise UsageError(f"Ray worker of slot {slot} died {self._restarts[slot]} times "
                                             f"(last: {type(e).__name__}). Finished work is kept: fix the cause "
                                             f"and run `babelsafe resume {self.run_dir}`.") from e
                        # the dead worker's process is gone, so its store is final: what it has stays with
                        # the slot, what it had taken but not started goes back to the shared queue
                        freed = ray.get(queue.requeue.remote(slot, stored_samples(self._store(slot))))
                        log.warning("worker of slot %d died (%s): %d of its samples go back to the queue, a "
                                    "new worker resumes the slot's store", slot, type(e).__name__, freed)
                        pending[self._start(ray, slot, queue, limiter, taxonomies)] = slot
                        continue
                    if "usage_error" in out:
                        raise UsageError(out["usage_error"])
                    results[slot] = out
                self._report(ray, progress, results, per_sample)
        finally:
            if pending:
                self.request_stop()
                ray.wait(list(pending), num_returns=len(pending), timeout=30)
            for actor in list(self._actors.values()) + [queue]:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        interrupted = self.interrupted or any(r.get("interrupted") for r in results.values())
        stores = [self._store(k) for k in range(slots)]
        missing = [str(p) for k, p in enumerate(stores) if k in results and not p.is_file()]
        if missing:  # a worker on another node wrote its store where this driver cannot see it
            raise UsageError(f"Shard stores not visible to the driver: {', '.join(missing)}. Workers on other "
                             "nodes need --out on storage shared by every node (docs/distributed.md).")
        merge_stores(self.run_dir / "results.sqlite", stores)
        with Store(self.run_dir / "results.sqlite") as store:
            store.write_meta("spec", self.spec.model_dump(mode="json"))
            store.write_meta("babelsafe_version", __version__)
            store.write_meta("started", str(started))  # this attempt's, as a local run records it
            store.write_meta("executor", {"name": "ray", "workers": slots, "restarts": self._restarts,
                                          "cpu_s": {k: r.get("cpu_s") for k, r in sorted(results.items())}})
            store.write_meta("finished", str(time.time()))
            store.write_meta("interrupted", "1" if interrupted else "0")
        summary = finalize(self.run_dir, self.spec, interrupted=interrupted)
        return RunResult(self.run_dir, summary, progress, interrupted)

    def _report(self, ray: Any, progress: Any, results: dict[int, dict[str, Any]], per_sample: int) -> None:
        """Sum the workers' counters into one Progress for the caller's progress bar (the total also counts
        what is still queued)."""
        refs = {k: a.progress.remote() for k, a in self._actors.items() if k not in results}
        left = self._queue_actor.remaining.remote()
        total = done = errors = cached = 0
        for k, r in results.items():
            total, done, errors, cached = (total + r["total"], done + r["done"], errors + r["errors"],
                                           cached + r["cached"])
        for k, ref in refs.items():
            try:
                t, d, e, c = ray.get(ref, timeout=5)
            except Exception:  # noqa: BLE001 - a dying worker: its count comes back with its replacement
                continue
            total, done, errors, cached = total + t, done + d, errors + e, cached + c
        try:
            total += ray.get(left, timeout=5) * per_sample
        except Exception:  # noqa: BLE001 - the progress bar only
            pass
        progress.total, progress.done, progress.errors, progress.cached = total, done, errors, cached
        self.on_progress(progress)
