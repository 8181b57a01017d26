"""The one model caller: every model call babelsafe makes — a run's targets, translators, rewriters,
LLM judges, calibration, the guard's judges and translators — goes through `ModelCaller.call`.

    cache key = hash(target identity, generation params, messages)
    identical calls in flight are shared (one request, every caller gets the answer)
    per-target concurrency (capped by `target.max_concurrency`), requests/min and tokens/min budgets
    retries with exponential backoff and jitter, honouring Retry-After; a hard per-request timeout
    a provider's content filter is an outcome ("content_filter"), not an error

Provider failures never raise: they come back as `Generation(outcome="error")`. Where answers are
kept is the cache's business: a run's store (persistent, resumable: `StoreCache`) or memory (an LRU
for calibration, the guard proxy and notebooks: `MemoryCache`). A ModelCaller is the `ModelContext`
components receive (babelsafe.context).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..concurrency import Gate
from ..errors import UsageError
from ..registry import registry
from ..spec import RunSpec, TargetSpec, target_spec
from ..targets.base import ProviderError
from ..types import (CONTENT_FILTER, ERROR, GenParams, Generation, Message, canonical_json, canonical_messages,
                     hash_json, stable_hash)
from .limits import RateLimiter, estimate_message_tokens, estimate_tokens

log = logging.getLogger("babelsafe")
RUN_DEFAULT_CONCURRENCY = RunSpec.model_fields["concurrency"].default


class CallCache(Protocol):
    """Where answers are kept. `lookup` returns a stored answer (never an error); `record` is told
    about every call made (errors too: a store keeps them, a memory cache drops them). `request` is
    {"messages", "params"[, "sent"]} as JSON text (built once from what the cache key hashed)."""

    def lookup(self, key: str) -> Generation | None: ...

    def record(self, key: str, component: str, purpose: str, request: str, g: Generation) -> None: ...


class MemoryCache:
    """Successful answers in memory, least recently used dropped beyond `size`."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._d: collections.OrderedDict[str, Generation] = collections.OrderedDict()

    def lookup(self, key: str) -> Generation | None:
        hit = self._d.get(key)
        if hit is None:
            return None
        self._d.move_to_end(key)
        return copy_generation(hit, cached=True)

    def record(self, key: str, component: str, purpose: str, request: str, g: Generation) -> None:
        if g.outcome == ERROR:
            return
        self._d[key] = g
        if len(self._d) > self.size:
            self._d.popitem(last=False)


# The stored answers a StoreCache reads into memory: up to this many bytes (text as sys.getsizeof counts
# a str, plus _ENTRY_BYTES per answer for its key, tuple and dict slot), once this many hits were asked
# one query each (a resume of a plain run asks few: its answered probes are skipped before any lookup).
ANSWER_MEMORY = 128 << 20
_ENTRY_BYTES = 400
BULK_AFTER = 256


class StoreCache:
    """A run's store: every call is written (the `calls` table); stored answers are reused when
    `reuse` (a run with cache on, or a resume).

    A rerun or resume of a finished run may look most of its calls up again (a task such as
    `consistency` replays every step): after `bulk_after` hits, the stored answers are read in one pass
    over the table into memory (up to `memory` bytes, the first rows in the table's order: a run's own
    order); any other key with a stored answer costs one query, as every key did before."""

    def __init__(self, store: Any, reuse: bool = True, memory: int = ANSWER_MEMORY, bulk_after: int = BULK_AFTER):
        self.store = store
        self.reuse = reuse
        # keys with a stored answer: a miss costs a set lookup, not a query
        self._known: set[str] = store.cached_keys() if reuse else set()
        # key -> the answer's (text, outcome, finish_reason, prompt_tokens, completion_tokens, latency_s)
        self._answers: dict[str, tuple[Any, ...]] = {}
        self._memory = memory
        self._queries_left = bulk_after  # hits asked one query each before the bulk read

    def _read_answers(self) -> None:
        """The stored answers, as the store has them now (what this session wrote included), into memory."""
        self._queries_left = -1  # once
        self.store.flush()
        answers, room = self._answers, self._memory
        rows = self.store.cached_answers()
        for row in rows:
            if room <= 0:
                break
            room -= _ENTRY_BYTES + (sys.getsizeof(row[1]) if row[1] is not None else 0)
            answers[row[0]] = row[1:]
        rows.close()

    def lookup(self, key: str) -> Generation | None:
        if not self.reuse or key not in self._known:
            return None
        row = self._answers.get(key)
        if row is None and self._queries_left >= 0:
            self._queries_left -= 1
            if self._queries_left < 0:
                self._read_answers()
                row = self._answers.get(key)
        if row is not None:  # what store.cached_call reads
            return Generation(text=row[0], outcome=row[1], finish_reason=row[2], prompt_tokens=row[3],
                              completion_tokens=row[4], latency_s=row[5], cached=True)
        hit = self.store.cached_call(key)
        if hit is None:  # answered earlier in this session, not yet committed
            self.store.flush()
            hit = self.store.cached_call(key)
        return hit

    def record(self, key: str, component: str, purpose: str, request: str, g: Generation) -> None:
        self.store.write_call(key, component, purpose, request, g)
        self._answers.pop(key, None)  # (none normally: a kept answer is not asked again) the new row wins
        if g.outcome != ERROR:
            self._known.add(key)


@dataclass
class TargetSlot:
    """A target with its label, default params, system prompt and limits."""

    label: str
    target: Any
    params: GenParams
    system_prompt: str | None
    sem: Gate  # the target's concurrency
    limiter: RateLimiter
    identity_hash: str
    params_dict: dict[str, Any]
    params_json: str = ""  # canonical JSON of params_dict (part of every cache key of the slot)
    # what the call path asks of the target and limiter once, not per request:
    limited: bool = True  # an RPM/TPM budget applies (then requests need a token estimate)
    own_deadline: bool = False  # generate() has a total deadline within the caller's: no timer here
    takes_json: bool = False  # generate(..., messages_json=) reuses the cache key's messages JSON


def copy_generation(g: Generation, **changes: Any) -> Generation:
    return Generation(**{**{f: getattr(g, f) for f in g.__slots__}, **changes})  # type: ignore[attr-defined]


async def with_timeout(coro: Any, seconds: float) -> Any:
    """Await with a deadline; asyncio.timeout (3.11+) avoids wait_for's extra task per call."""
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)  # pragma: no cover - Python 3.10


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number attempt+1: exponential with jitter, or what the provider asked for
    (Retry-After, capped at 2 minutes)."""
    delay = min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay * 0.1, min(retry_after, 120.0))
    return delay


def _params(cls: Any) -> Any:
    import inspect

    try:
        return inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}


def _accepts(cls: Any, kw: str) -> bool:
    import inspect

    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return kw in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


class ModelCaller:
    """Targets by spec, and the one cached, shared, limited, retried call path to them."""

    def __init__(self, *, seed: int = 0, retries: int = 2, timeout: float = 60.0, concurrency: int = 64,
                 rpm: float | None = None, tpm: float | None = None, cache: CallCache | None = None,
                 share_inflight: bool = True,
                 on_aux_target: Callable[[str, dict[str, Any]], None] | None = None,
                 limiter_factory: Callable[[TargetSpec], RateLimiter] | None = None):
        self.seed = seed
        self.retries = retries
        self.timeout = timeout
        self.concurrency = concurrency
        self.rpm, self.tpm = rpm, tpm
        self.cache: CallCache = cache if cache is not None else MemoryCache()
        self.share_inflight = share_inflight
        self._on_aux_target = on_aux_target
        # who enforces RPM/TPM: a bucket per target here, or one shared by every worker of a cluster
        self._limiter_factory = limiter_factory or (
            lambda t: RateLimiter(t.rpm or self.rpm, t.tpm or self.tpm))
        self._slots: dict[int, TargetSlot] = {}  # id(target) -> slot
        self._aux: dict[str, Any] = {}
        self._inflight: dict[str, asyncio.Future[Generation]] = {}
        self.calls_made = 0  # requests sent (attempts included)
        # purpose and messages of the latest uncached calls, for inspection (bounded: a guard proxy
        # lives for weeks)
        self.calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        from ..images.store import ImageStore

        # images probes refer to by hash (a run's images/ folder; in memory outside a run)
        self.images = ImageStore(None)

    # -- targets -------------------------------------------------------------------------------
    def build_target(self, tspec: TargetSpec, default_concurrency: int | None = None) -> TargetSlot:
        """Build a target from its spec (defense layers included) with its params and limits."""
        opts = tspec.constructor_options()
        cls = registry("target").get(tspec.type)
        if _accepts(cls, "timeout"):
            opts.setdefault("timeout", self.timeout)
        conc = tspec.concurrency or default_concurrency or self.concurrency
        if _accepts(cls, "max_connections"):  # one pooled connection per request in flight, no more
            opts.setdefault("max_connections", conc)
        if "parallel" in _params(cls) and (tspec.concurrency or conc != RUN_DEFAULT_CONCURRENCY):
            opts.setdefault("parallel", conc)  # in-process models batch what an explicit --concurrency asks
        target = registry("target").build(tspec.type, opts, self)
        if tspec.defenses:
            from ..defense.layers import wrap_target

            target = wrap_target(target, tspec.defenses, self)
        params = GenParams(temperature=tspec.temperature, max_tokens=tspec.max_tokens, top_p=tspec.top_p,
                           seed=tspec.seed if tspec.seed is not None else self.seed, stop=tspec.stop,
                           extra_body=tspec.extra_body)
        return self._add_slot(target, tspec.display, params, conc, tspec.system_prompt,
                              self._limiter_factory(tspec))

    def _add_slot(self, target: Any, label: str, params: GenParams, concurrency: int,
                  system_prompt: str | None = None, limiter: RateLimiter | None = None) -> TargetSlot:
        cap = getattr(target, "max_concurrency", None)
        if cap:
            concurrency = min(concurrency, int(cap))
        try:
            ident = target.identity()
        except Exception:  # a component's own target without identity(): its name stands in
            ident = {"name": getattr(target, "name", repr(target))}
        pd = params.as_dict()
        limiter = limiter or RateLimiter(None, None)
        # a limiter without budgets (here or a cluster's shared bucket) returns at once: no estimate needed
        limited = bool(getattr(limiter, "rpm", True) or getattr(limiter, "tpm", True))
        # a target with its own total deadline per request (e.g. the openai target's raw transport) needs
        # no second timer here; others get the run's timeout (+5 s: the target's own timeouts answer first)
        own = getattr(target, "total_timeout", None)
        slot = TargetSlot(label, target, params, system_prompt, Gate(concurrency), limiter, stable_hash(ident),
                          pd, canonical_json(pd), limited=limited,
                          own_deadline=own is not None and own <= self.timeout + 5,
                          takes_json=bool(getattr(target, "accepts_messages_json", False)))
        self._slots[id(target)] = slot
        return slot

    def register(self, target: Any, label: str | None = None, concurrency: int | None = None) -> TargetSlot:
        """Make an already-built target callable through `call` (e.g. a model wrapped by a defense layer)."""
        slot = self._slots.get(id(target))
        if slot is not None:
            return slot
        return self._add_slot(target, label or getattr(target, "name", "target"), GenParams(seed=self.seed),
                              concurrency or self.concurrency)

    def target(self, spec: Any) -> Any:
        """An auxiliary target (translator, judge model) from a registry name or a TargetSpec-like dict,
        built once per caller; a Target object is returned as is."""
        if not isinstance(spec, (str, dict, TargetSpec)):
            return spec
        key = stable_hash(spec.model_dump() if isinstance(spec, TargetSpec) else spec)
        if key not in self._aux:
            tspec = target_spec(spec)
            try:
                slot = self.build_target(tspec)
            except TypeError as e:  # pragma: no cover - registry.build already explains bad options
                raise UsageError(f"Bad options for target '{tspec.type}': {e}") from e
            if self._on_aux_target is not None:
                self._on_aux_target(tspec.display, {"identity": slot.target.identity(),
                                                    "params": slot.params.as_dict()})
            self._aux[key] = slot.target
        return self._aux[key]

    async def aclose(self) -> None:
        """Close every target this caller built or registered."""
        for slot in list(self._slots.values()):
            close = getattr(slot.target, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # a failing close must not hide the result
                    log.debug("closing %s failed", slot.label, exc_info=True)

    # -- the one call path ---------------------------------------------------------------------
    def cache_key(self, target: Any, messages: list[Message], params: GenParams,
                  messages_json: str | None = None) -> str:
        """hash(target identity, params, messages): stable_hash([identity_hash, params, messages])."""
        slot = self._slots.get(id(target)) or self.register(target)
        return self._key_parts(slot, messages, params, messages_json)[0]

    @staticmethod
    def _key_parts(slot: TargetSlot, messages: list[Message], params: GenParams,
                   messages_json: str | None) -> tuple[str, str, str]:
        """(cache key, params JSON, messages JSON). The JSON of a list is its items' JSON joined by
        commas, so the parts computed once per slot and per probe are reused, not re-encoded."""
        pj = slot.params_json if params is slot.params and slot.params_json else canonical_json(params.as_dict())
        mj = messages_json if messages_json is not None else canonical_messages(messages)
        return hash_json(f'["{slot.identity_hash}",{pj},{mj}]'), pj, mj

    async def call(self, target: Any, messages: list[Message], params: GenParams | None = None,
                   purpose: str = "aux", messages_json: str | None = None) -> Generation:
        """messages_json: canonical_json(messages) when the caller has it already (the runner does)."""
        slot = self._slots.get(id(target))
        if slot is None:  # a target built outside the caller (e.g. by a component): register it
            slot = self.register(target)
        params = params or slot.params
        key, pj, mj = self._key_parts(slot, messages, params, messages_json)
        if self.share_inflight:
            fut = self._inflight.get(key)
            if fut is not None:  # the same call is already on its way: share it
                g = await asyncio.shield(fut)
                return copy_generation(g, cached=True)
            hit = self.cache.lookup(key)
            if hit is not None:
                hit.cache_key = key
                return hit
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            self.calls.append({"purpose": purpose, "messages": messages})
            g = await self._call_with_retries(slot, messages, params, mj)
            g.cache_key = key
            # the call record {"messages", "params"[, "sent"]} from the JSON the key was built from; with
            # "sent", a defended target's layers' requests (e.g. with the safety prompt)
            request = (f'{{"messages":{mj},"params":{pj}'
                       + (f',"sent":{canonical_json(g.sent)}}}' if g.sent else "}"))
            self.cache.record(key, slot.label, purpose, request, g)
            fut.set_result(g)
            return g
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(key, None)

    async def _call_with_retries(self, slot: TargetSlot, messages: list[Message], params: GenParams,
                                 messages_json: str | None = None) -> Generation:
        retries = self.retries
        limiter, limited = slot.limiter, slot.limited
        est = sum(estimate_message_tokens(m) for m in messages) + params.max_tokens if limited else 0
        try:  # image references become data URLs only for the request itself (never stored, never hashed)
            sent = self.images.resolve(messages)
        except UsageError as e:
            return Generation(text=None, outcome=ERROR, error=str(e), error_kind="client", attempts=0)
        target, gate = slot.target, slot.sem
        extra = {"messages_json": messages_json} if slot.takes_json and sent is messages and messages_json else {}
        last: ProviderError | None = None
        attempt = 0
        for attempt in range(retries + 1):
            if limited:
                await limiter.acquire(est)
            if not gate.take():
                await gate.wait()
            try:
                self.calls_made += 1
                try:
                    coro = target.generate(sent, params, **extra)
                    g = await (coro if slot.own_deadline else with_timeout(coro, self.timeout + 5))
                    g.attempts = attempt + 1
                    return g
                except ProviderError as e:
                    last = e
                except asyncio.TimeoutError:
                    last = ProviderError("timeout", f"no answer within {self.timeout:g}s", retryable=True)
                except (ConnectionError, OSError) as e:
                    last = ProviderError("connection", f"{type(e).__name__}: {e}", retryable=True)
            finally:
                gate.leave()
            if last.kind == "content_filter":
                return Generation(text="", outcome=CONTENT_FILTER, finish_reason="content_filter",
                                  error=str(last), error_kind=last.kind, attempts=attempt + 1)
            if not last.retryable or attempt == retries:
                break
            delay = backoff_delay(attempt, last.retry_after)
            log.debug("retrying %s after %s (%.2fs)", slot.label, last.kind, delay)
            await asyncio.sleep(delay)
        assert last is not None
        return Generation(text=None, outcome=ERROR, error=str(last), error_kind=last.kind,
                          attempts=min(attempt + 1, retries + 1))


class LocalContext(ModelCaller):
    """A ModelCaller for use outside a run (calibration, the guard proxy, notebooks, tests): successful
    answers are kept in an in-memory LRU cache instead of a run's store; same retries, limits, sharing."""

    def __init__(self, seed: int = 0, retries: int = 2, timeout: float = 60.0, concurrency: int = 64,
                 cache_size: int = 4096):
        super().__init__(seed=seed, retries=retries, timeout=timeout, concurrency=concurrency,
                         cache=MemoryCache(cache_size))


class RunCaller(ModelCaller):
    """The ModelCaller of a run: the spec's limits; every call written to the run's store, and stored
    answers reused when the spec has `cache` on (always when resuming)."""

    def __init__(self, spec: Any, store: Any,
                 limiter_factory: Callable[[TargetSpec], RateLimiter] | None = None):
        super().__init__(seed=spec.seed, retries=spec.retries, timeout=spec.timeout,
                         concurrency=spec.concurrency, rpm=spec.rpm, tpm=spec.tpm,
                         cache=StoreCache(store, reuse=spec.cache), share_inflight=spec.cache,
                         on_aux_target=lambda name, cfg: store.write_component("aux_target", name, cfg),
                         limiter_factory=limiter_factory)
        self.spec = spec
        self.store = store
        from pathlib import Path

        from ..images.store import ImageStore

        self.images = ImageStore(Path(store.path).parent / "images")  # each image once per run
