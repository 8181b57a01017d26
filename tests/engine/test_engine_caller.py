"""One model caller for runs and everything else: the same retries (Retry-After honoured), in-flight
sharing, content-filter outcome and target construction, whether answers live in a run's store
(RunCaller) or in memory (LocalContext: calibration, the guard proxy, notebooks). Real loopback server."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from babelsafe.context import LocalContext, ModelContext
from babelsafe.engine import ModelCaller, RunCaller
from babelsafe.results import RunReader, Store
from babelsafe.spec import load_spec
from babelsafe.types import CONTENT_FILTER, ERROR, GenParams

MSGS = [{"role": "user", "content": "How do I bake bread?"}]


def _target(srv) -> dict:
    return {"type": "openai", "model": "m", "base_url": srv.base_url, "api_key_env": "BABELSAFE_TEST_KEY"}


def test_local_context_is_the_run_callers_class():
    assert issubclass(LocalContext, ModelCaller) and issubclass(RunCaller, ModelCaller)
    ctx: ModelContext = LocalContext()
    assert ctx.seed == 0


def test_local_context_honours_retry_after_like_runs(openai_server, api_key):
    openai_server.retry_after = 1.0
    openai_server.faults.extend(["429"])

    async def go():
        ctx = LocalContext(retries=2)
        t = ctx.target(_target(openai_server))
        t0 = time.monotonic()
        g = await ctx.call(t, MSGS, GenParams(max_tokens=8), purpose="judge")
        await ctx.aclose()
        return g, time.monotonic() - t0

    g, waited = asyncio.run(go())
    assert g.outcome == "ok" and g.attempts == 2
    assert waited >= 0.95  # waited what the provider asked for, not the quick local backoff of before


def test_local_context_shares_identical_calls_in_flight_and_caches(openai_server, api_key):
    openai_server.latency = 0.2

    async def go():
        ctx = LocalContext()
        t = ctx.target(_target(openai_server))
        gens = await asyncio.gather(*(ctx.call(t, MSGS) for _ in range(5)))
        again = await ctx.call(t, MSGS)
        await ctx.aclose()
        return gens, again, ctx

    gens, again, ctx = asyncio.run(go())
    assert openai_server.count == 1 and all(g.text == gens[0].text for g in gens)
    assert again.cached and len(ctx.calls) == 1


def test_errors_are_outcomes_and_never_cached(openai_server, api_key):
    openai_server.faults.extend(["400", "400"])

    async def go():
        ctx = LocalContext(retries=3)
        t = ctx.target(_target(openai_server))
        first = await ctx.call(t, MSGS)
        second = await ctx.call(t, MSGS)
        await ctx.aclose()
        return first, second

    first, second = asyncio.run(go())
    assert first.outcome == ERROR and first.attempts == 1  # a 400 is not retried
    assert second.outcome == ERROR and openai_server.count == 2


def test_content_filter_is_an_outcome_everywhere(tmp_path: Path):
    from babelsafe.targets.base import ProviderError

    class Filtered:
        name = "filtered"

        def identity(self):
            return {"name": "filtered"}

        async def generate(self, messages, params):
            raise ProviderError("content_filter", "blocked by the provider's filter", retryable=False)

    async def go(ctx):
        g = await ctx.call(Filtered(), MSGS)
        await ctx.aclose()
        return g

    store = Store(tmp_path / "s.sqlite")
    spec = load_spec(None, out=str(tmp_path))
    for ctx in (LocalContext(), RunCaller(spec, store)):
        g = asyncio.run(go(ctx))
        assert g.outcome == CONTENT_FILTER and g.attempts == 1
    store.close()


def test_run_caller_keeps_every_call_and_aux_targets_in_the_store(openai_server, api_key, tmp_path: Path):
    store = Store(tmp_path / "results.sqlite")
    spec = load_spec(None, out=str(tmp_path))

    async def go():
        ctx = RunCaller(spec, store)
        t = ctx.target(_target(openai_server))
        assert ctx.target(_target(openai_server)) is t  # built once per caller
        await ctx.call(t, MSGS, purpose="translate")
        await ctx.aclose()

    asyncio.run(go())
    store.close()
    with RunReader(tmp_path) as r:
        assert [(u.purpose, u.calls) for u in r.call_usage()] == [("translate", 1)]
        assert "aux_target" in r.components()
