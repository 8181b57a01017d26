"""The Ray executor: one run sharded across Ray actors, with one store, one cache and the same resume.

Design (docs/distributed.md says why):
- The driver streams the samples once, so a bad dataset or option fails before anything starts; each
  sample belongs to a shard by a stable hash of its key (the same shard on every resume), and each
  worker streams the datasets itself, keeping its shard's samples.
- Each worker actor runs the ordinary engine (the same Runner: cache, in-flight sharing, retries, judges)
  on its shard, into a shard run dir `RUN/shards/K/` with its own store. Its targets live in the actor
  (a local model or vLLM per GPU loads once per worker).
- Provider limits stay global: one RateLimit actor holds the RPM/TPM buckets of every target and every
  worker reserves from it; per-target concurrency is a cluster-wide budget split across the workers.
- When a worker dies its shard is given to a fresh actor, which resumes the shard's store (finished calls
  are never repeated). When the driver dies, `babelsafe resume RUN` starts the shards again the same way.
- At the end the shard stores are merged into RUN/results.sqlite and the summary is computed from it,
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
from typing import Any, Callable

from .. import __version__
from ..errors import UsageError
from ..spec import RunSpec, TargetSpec, dump_spec

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


def shard_of(sample_key: str, n: int) -> int:
    """The shard of a sample: a stable hash of its key, so a resumed run gives every sample the same shard."""
    return int.from_bytes(hashlib.sha256(sample_key.encode()).digest()[:8], "big") % n


class ShardFilter:
    """Picklable sample filter: keep the samples of shard `index` of `count`."""

    def __init__(self, index: int, count: int):
        self.index, self.count = index, count

    def __call__(self, sample: Any) -> bool:
        return shard_of(sample.key, self.count) == self.index


def shard_spec(spec: RunSpec, index: int, workers: int, run_dir: Path) -> RunSpec:
    """The spec a worker runs: the run's spec in the shard's dir, concurrency split across the workers."""
    def split(c: int | None) -> int | None:
        return None if c is None else max(1, math.ceil(c / workers))

    targets = [t.model_copy(update={"concurrency": split(t.concurrency)}) for t in spec.targets]
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
    """Runs shards with the ordinary engine (an async Ray actor: `progress` answers while `run` works)."""

    def __init__(self) -> None:
        self._runner: Any = None

    def node(self) -> tuple[str, int]:
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    async def run(self, spec: RunSpec, index: int, count: int, limiter: Any) -> dict[str, Any]:
        from ..engine import Runner

        self._runner = Runner(spec, sample_filter=ShardFilter(index, count), summarize=False,
                              limiter_factory=RemoteLimiterFactory(limiter, spec) if limiter else None)
        try:
            result = await self._runner.run()
        except UsageError as e:  # travels to the driver as a plain message (no traceback wrapping)
            return {"usage_error": str(e)}
        p = result.progress
        return {"interrupted": result.interrupted, "total": p.total, "done": p.done, "errors": p.errors,
                "cached": p.cached}

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
        """Shard -> the Ray actor name of its current worker (tests kill workers by name)."""
        return {k: self._name(k) for k in self._actors}

    def _name(self, shard: int) -> str:
        tag = hashlib.sha256(str(self.run_dir.resolve()).encode()).hexdigest()[:10]
        return f"babelsafe-{tag}-shard-{shard}-{self._restarts.get(shard, 0)}"

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

    def _start(self, ray: Any, shard: int, limiter: Any) -> Any:
        ex = self.spec.executor
        cls = ray.remote(ShardWorker)
        actor = cls.options(name=self._name(shard), num_cpus=ex.cpus_per_worker, num_gpus=ex.gpus_per_worker,
                            max_concurrency=1000, max_restarts=0).remote()
        self._actors[shard] = actor
        return actor.run.remote(shard_spec(self.spec, shard, self.workers, self.run_dir), shard, self.workers,
                                limiter)

    def execute(self) -> Any:
        from ..results import Store
        from ..results.merge import merge_stores
        from ..engine import Progress, RunResult, finalize, load_samples

        for _ in load_samples(self.spec):  # datasets and filters fail here, before any worker starts
            pass  # (a streaming pass: the driver keeps no sample; each shard streams its own)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "spec.yaml").write_text(dump_spec(self.spec), encoding="utf-8")
        ray = self._connect()
        limiter = None
        if self.spec.rpm or self.spec.tpm or any(t.rpm or t.tpm for t in self.spec.targets):
            limiter = ray.remote(RateBuckets).options(num_cpus=0).remote()
        pending = {self._start(ray, k, limiter): k for k in range(self.workers)}
        results: dict[int, dict[str, Any]] = {}
        progress = Progress()
        log.info("babelsafe %s on Ray: %d workers -> %s", __version__, self.workers, self.run_dir)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                for ref in done:
                    shard = pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                        if self._stop_requested:
                            continue
                        self._restarts[shard] = self._restarts.get(shard, 0) + 1
                        if self._restarts[shard] > self.spec.executor.max_restarts:
                            raise UsageError(f"Ray worker for shard {shard} died {self._restarts[shard]} times "
                                             f"(last: {type(e).__name__}). Finished work is kept: fix the cause "
                                             f"and run `babelsafe resume {self.run_dir}`.") from e
                        log.warning("worker of shard %d died (%s): a new worker resumes the shard",
                                    shard, type(e).__name__)
                        pending[self._start(ray, shard, limiter)] = shard
                        continue
                    if "usage_error" in out:
                        raise UsageError(out["usage_error"])
                    results[shard] = out
                self._report(ray, progress, results)
        finally:
            if pending:
                self.request_stop()
                ray.wait(list(pending), num_returns=len(pending), timeout=30)
            for actor in self._actors.values():
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        interrupted = self.interrupted or any(r.get("interrupted") for r in results.values())
        shards = [self.run_dir / SHARDS_DIR / str(k) / "results.sqlite" for k in range(self.workers)]
        missing = [str(p) for k, p in enumerate(shards) if k in results and not p.is_file()]
        if missing:  # a worker on another node wrote its shard where this driver cannot see it
            raise UsageError(f"Shard stores not visible to the driver: {', '.join(missing)}. Workers on other "
                             "nodes need --out on storage shared by every node (docs/distributed.md).")
        merge_stores(self.run_dir / "results.sqlite", shards)
        with Store(self.run_dir / "results.sqlite") as store:
            store.write_meta("spec", self.spec.model_dump(mode="json"))
            store.write_meta("babelsafe_version", __version__)
            store.write_meta("executor", {"name": "ray", "workers": self.workers, "restarts": self._restarts})
            store.write_meta("finished", str(time.time()))
            store.write_meta("interrupted", "1" if interrupted else "0")
        summary = finalize(self.run_dir, self.spec, interrupted=interrupted)
        return RunResult(self.run_dir, summary, progress, interrupted)

    def _report(self, ray: Any, progress: Any, results: dict[int, dict[str, Any]]) -> None:
        """Sum the workers' counters into one Progress for the caller's progress bar."""
        refs = {k: a.progress.remote() for k, a in self._actors.items() if k not in results}
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
        progress.total, progress.done, progress.errors, progress.cached = total, done, errors, cached
        self.on_progress(progress)

