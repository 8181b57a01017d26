"""The `transformers` target with a tiny random Llama built and saved inside the test (no downloads)."""
from __future__ import annotations

import asyncio
import json

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
transformers = pytest.importorskip("transformers", reason="transformers not installed")

from babelsafe.errors import UsageError  # noqa: E402
from babelsafe.registry import registry  # noqa: E402
from babelsafe.targets.models import MODELS  # noqa: E402
from babelsafe.targets.base import ProviderError, Target  # noqa: E402
from babelsafe.targets.hf_transformers import TransformersTarget  # noqa: E402
from babelsafe.types import GenParams  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
WORDS = ("how do i bake bread ? the a an is of to and in cake rice flour water salt yeast oven warm cold "
         "hello world user system assistant answer one word please tell me about cats dogs colour red blue "
         "green fruit apple pear city paris rome cómo se hace el pan 面包 хлеб").split()
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]


def build_model(path, *, template: bool = True, pad: bool = True, seed: int = 0, max_pos: int = 128):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens(SPECIAL)
    kwargs = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    if pad:
        kwargs["pad_token"] = "<pad>"
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, **kwargs)
    if template:
        tok.chat_template = CHATML
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=max_pos, initializer_range=0.3,
                                   bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"],
                                   pad_token_id=vocab["<pad>"] if pad else None)
    model = transformers.LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def target(model_dir):
    t = TransformersTarget(model=str(model_dir), batch_size=4)
    yield t
    asyncio.run(t.aclose())


def msg(text, system=None):
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def test_registered(target):
    assert registry("target").get("transformers") is TransformersTarget
    assert isinstance(target, Target)
    assert target.max_concurrency == 8 and target.device() == "cpu" and target.dtype_name() == "float32"


async def test_generate_usage_and_chat_template(target):
    g = await target.generate(msg("how do i bake bread ?"), GenParams(max_tokens=6))
    assert g.outcome == "ok" and isinstance(g.text, str)
    prompt, special = target.format_prompt(msg("how do i bake bread ?"))
    assert prompt.endswith("<|im_start|>assistant\n") and not special
    assert g.prompt_tokens == len(target.load().tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert 0 <= g.completion_tokens <= 6
    assert g.finish_reason == ("length" if g.completion_tokens == 6 else "stop")
    assert g.latency_s is not None and g.latency_s > 0


async def test_max_tokens_respected(target):
    for n in (1, 3, 10):
        g = await target.generate(msg("tell me about cats"), GenParams(max_tokens=n))
        assert g.completion_tokens <= n
        assert len(g.text.split()) <= n


async def test_greedy_deterministic_and_seeded_sampling(target, model_dir):
    p = GenParams(max_tokens=8)
    a = await target.generate(msg("hello world"), p)
    b = await target.generate(msg("hello world"), p)
    other = TransformersTarget(model=str(model_dir), batch_size=1)
    c = await other.generate(msg("hello world"), p)
    await other.aclose()
    assert a.text == b.text == c.text
    s = GenParams(max_tokens=8, temperature=1.0, seed=11)
    x = await target.generate(msg("hello world"), s)
    await target.generate(msg("tell me about dogs"), GenParams(max_tokens=3, temperature=1.0, seed=5))
    y = await target.generate(msg("hello world"), s)
    assert x.text == y.text


async def test_batched_equals_unbatched(target):
    convs = [msg("hello"), msg("how do i bake bread ? tell me about the oven please"),
             msg("colour", system="answer in one word")]
    p = GenParams(max_tokens=8)
    singles = [await target.generate(c, p) for c in convs]
    batch = await target.generate_batch(convs, p)
    assert [g.text for g in batch] == [g.text for g in singles]  # left padding + attention mask are right
    assert [g.prompt_tokens for g in batch] == [g.prompt_tokens for g in singles]
    assert len({g.prompt_tokens for g in batch}) == 3


async def test_concurrent_calls_are_micro_batched(target):
    convs = [msg(w) for w in ("cats", "dogs", "rice", "cake", "paris")]
    p = GenParams(max_tokens=5)
    sequential = [(await target.generate(c, p)).text for c in convs]
    before = target._batcher.batches_run
    results = await asyncio.gather(*(target.generate(c, p) for c in convs))
    assert [r.text for r in results] == sequential
    runs = target._batcher.batch_sizes[before:]
    assert sum(runs) == 5 and max(runs) <= 4 and len(runs) < 5


async def test_fallback_template_and_pad_token(tmp_path):
    d = build_model(tmp_path / "plain", template=False, pad=False, seed=1)
    t = TransformersTarget(model=str(d))
    prompt, special = t.format_prompt(msg("hello", system="be brief"))
    assert prompt == "System: be brief\nUser: hello\nAssistant:" and special
    assert t.load().tokenizer.pad_token == "</s>"
    out = await t.generate_batch([msg("hello"), msg("tell me about cats and dogs")], GenParams(max_tokens=4))
    assert all(g.outcome == "ok" for g in out)
    await t.aclose()


async def test_too_long_prompt_is_a_row_error(tmp_path):
    d = build_model(tmp_path / "short", max_pos=16)
    t = TransformersTarget(model=str(d))
    with pytest.raises(ProviderError) as ei:
        await t.generate(msg("bread " * 40), GenParams(max_tokens=4))
    assert ei.value.kind == "client" and not ei.value.retryable
    out = await t.generate_batch([msg("bread " * 40), msg("hello")], GenParams(max_tokens=2))
    assert out[0].outcome == "error" and out[0].error_kind == "client"
    assert out[1].outcome == "ok"
    await t.aclose()


async def test_stop_strings(target):
    g = await target.generate(msg("hello world"), GenParams(max_tokens=10))
    words = g.text.split()
    if len(words) >= 2:
        s = await target.generate(msg("hello world"), GenParams(max_tokens=10, stop=[words[1]]))
        assert words[1] not in s.text and s.finish_reason == "stop"


def test_identity(model_dir, tmp_path):
    before = MODELS.loads
    a = TransformersTarget(model=str(model_dir)).identity()
    assert a == TransformersTarget(model=str(model_dir), batch_size=2).identity()
    assert MODELS.loads == before  # no model load for identity
    assert a["device_type"] == "cpu" and a["dtype"] == "float32" and a["type"] == "transformers"
    assert str(model_dir) not in json.dumps(a)
    other = build_model(tmp_path / model_dir.name, seed=99)  # same directory name, other weights
    assert TransformersTarget(model=str(other)).identity()["model_sha256"] != a["model_sha256"]
    assert TransformersTarget(model=str(model_dir), dtype="bfloat16").identity() != a
    hub = TransformersTarget(model="org/some-model").identity()
    assert hub["model"] == "org/some-model" and hub["revision"] == "main"


async def test_loaded_once(tmp_path):
    d = build_model(tmp_path / "once")
    before = MODELS.loads
    t1, t2 = TransformersTarget(model=str(d)), TransformersTarget(model=str(d))
    await t1.generate(msg("hello"), GenParams(max_tokens=2))
    await t1.generate(msg("cats"), GenParams(max_tokens=2))
    await t2.generate(msg("dogs"), GenParams(max_tokens=2))
    assert MODELS.loads == before + 1
    await t1.aclose()
    await t2.aclose()


async def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="needs a model"):
        TransformersTarget()
    with pytest.raises(UsageError, match="dtype"):
        TransformersTarget(model="x", dtype="int3")
    t = TransformersTarget(model=str(tmp_path / "missing-dir"), local_files_only=True)
    with pytest.raises(UsageError, match="Could not load"):
        await t.generate(msg("hello"), GenParams(max_tokens=2))


async def test_cancelled_caller_is_not_computed(target):
    await target.generate(msg("warm"), GenParams(max_tokens=2))
    b = target._batcher
    before = b.batches_run
    a_task = asyncio.create_task(target.generate(msg("hello"), GenParams(max_tokens=60)))
    for _ in range(200):  # bounded: wait until A's batch is running in its thread
        if b.batches_run > before:
            break
        await asyncio.sleep(0.001)
    p = GenParams(max_tokens=3)
    b_task = asyncio.create_task(target.generate(msg("cats"), p))
    c_task = asyncio.create_task(target.generate(msg("dogs"), p))
    await asyncio.sleep(0)
    b_task.cancel()
    a, c = await a_task, await c_task
    assert a.outcome == "ok" and c.outcome == "ok"
    assert b_task.cancelled()
    assert b.batch_sizes[before:] == [1, 1]  # B was dropped from C's batch
