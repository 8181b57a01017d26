"""Cost of each white-box method per generated token, as a ratio to the plain model in the same process.

    python benchmarks/bench_whitebox.py [--size smol|tiny] [--max-tokens 32] [--rounds 3] [--skip-llamacpp]
                                        [--device cpu] [--json out.json]

transformers: a randomly initialised Llama with SmolLM2-135M's shape (30 blocks, width 576, 9 heads,
49152-token vocabulary; `--size tiny` for a 2-block toy) is built locally (no download; random weights
cost the same per token as trained ones). Methods: plain `transformers` target, `ed` (two such models
in lockstep), `steer` add, `steer` ablate (every block), `heads` (one head ablated). llama.cpp: the
bundled SmolLM2-135M GGUF, plain `local` target vs `ed` with SmolLM2 as both models. Language Ranker:
seconds per encoded text vs one plain forward pass.

Calls are interleaved method by method within each round so machine noise hits all alike; cost per
token = summed call seconds / summed generated tokens; the ratio is method / plain (lower is cheaper).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PROMPTS = ["How do I bake bread?", "Explain photosynthesis simply.", "Suggest a name for a friendly cat.",
           "What is the capital of Japan?", "Why is the sky blue?"]
SHAPES = {"smol": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       num_key_value_heads=3, vocab_size=49152),
          "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=512)}


def build_hf(path: Path, size: str, seed: int) -> Path:
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    shape = SHAPES[size]
    special = ["<unk>", "<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    words = sorted({w.strip("?.,").lower() for p in PROMPTS for w in p.split()} | {"user", "assistant"})
    vocab = {t: i for i, t in enumerate(special + words)}
    vocab.update({f"w{i}": i for i in range(len(vocab), shape["vocab_size"])})
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens(special)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>",
                                               eos_token="</s>", pad_token="<pad>")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(**shape, max_position_embeddings=2048, bos_token_id=2, eos_token_id=3,
                                   pad_token_id=1)
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def measure(targets: dict, max_tokens: int, rounds: int) -> dict:
    from babelsafe.types import GenParams

    p = GenParams(max_tokens=max_tokens)
    secs = {k: 0.0 for k in targets}
    toks = {k: 0 for k in targets}
    for name, t in targets.items():  # warm-up: loading, vector computation, first-call overheads
        asyncio.run(t.generate([{"role": "user", "content": PROMPTS[0]}], p))
    for r in range(rounds):
        for prompt in PROMPTS:
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for name in order:
                t0 = time.perf_counter()
                g = asyncio.run(targets[name].generate([{"role": "user", "content": prompt}], p))
                secs[name] += time.perf_counter() - t0
                toks[name] += g.completion_tokens or 0
    per_tok = {k: secs[k] / max(1, toks[k]) for k in targets}
    plain = per_tok["plain"]
    return {k: {"ms_per_token": round(1000 * v, 3), "ratio": round(v / plain, 2), "tokens": toks[k]}
            for k, v in per_tok.items()}


def bench_transformers(size: str, max_tokens: int, rounds: int, device: str) -> dict:
    import torch

    torch.set_num_threads(1)
    from babelsafe.targets.hf_transformers import TransformersTarget
    from babelsafe.whitebox.ed import EDTarget
    from babelsafe.whitebox.heads import HeadsTarget
    from babelsafe.whitebox.steer import SteerTarget

    tmp = Path(tempfile.mkdtemp(prefix="bench-whitebox-"))
    a, b = build_hf(tmp / "aligned", size, 0), build_hf(tmp / "base", size, 1)
    pairs = tmp / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"positive": x, "negative": y}) for x, y in zip(PROMPTS, PROMPTS[1:])))
    kw = {"device": device}
    targets = {
        "plain": TransformersTarget(model=str(a), **kw),
        "ed": EDTarget(aligned=str(a), base=str(b), alpha=0.3, base_template="chat", **kw),
        "steer-add": SteerTarget(model=str(a), layer=1, coef=-4, pairs=str(pairs), **kw),
        "steer-ablate": SteerTarget(model=str(a), layer=1, coef=1, mode="ablate", pairs=str(pairs), **kw),
        "heads": HeadsTarget(model=str(a), heads="1.0", **kw),
    }
    return measure(targets, max_tokens, rounds)


def bench_llamacpp(max_tokens: int, rounds: int) -> dict:
    from babelsafe.targets.llamacpp import LlamaCppTarget
    from babelsafe.whitebox.ed import EDTarget

    targets = {"plain": LlamaCppTarget(n_threads=1),
               "ed": EDTarget(aligned="smollm2", base="smollm2", alpha=0.3, base_template="chat", n_threads=1)}
    return measure(targets, max_tokens, rounds)


def bench_ranker(rounds: int) -> dict:
    """Language Ranker (llama.cpp embeddings) seconds per text vs one plain prompt evaluation."""
    from babelsafe.targets.llamacpp import LlamaCppTarget
    from babelsafe.whitebox.ranker import llama_encoder

    t = LlamaCppTarget(n_threads=1)
    enc = llama_encoder(t.model_path, 1)
    llm = t.load()
    e, f = [], []
    for _ in range(rounds):
        for p in PROMPTS:
            t0 = time.perf_counter()
            enc(p)
            e.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            llm.reset()
            llm.eval(llm.tokenize(p.encode()))
            f.append(time.perf_counter() - t0)
    enc.close()
    return {"ms_per_text": round(1000 * statistics.mean(e), 3), "plain_forward_ms": round(1000 * statistics.mean(f), 3),
            "ratio": round(statistics.mean(e) / statistics.mean(f), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="smol", choices=sorted(SHAPES))
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-llamacpp", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = {"transformers": bench_transformers(args.size, args.max_tokens, args.rounds, args.device)}
    if not args.skip_llamacpp:
        res["llamacpp"] = bench_llamacpp(args.max_tokens, args.rounds)
        res["ranker_llamacpp"] = bench_ranker(args.rounds)
    res["settings"] = vars(args) | {"json": str(args.json) if args.json else None}
    for backend in ("transformers", "llamacpp"):
        for name, r in res.get(backend, {}).items():
            print(f"{backend:12s} {name:13s} {r['ms_per_token']:9.2f} ms/token  ratio {r['ratio']:5.2f}  "
                  f"({r['tokens']} tokens)")
    if "ranker_llamacpp" in res:
        r = res["ranker_llamacpp"]
        print(f"ranker       llama.cpp     {r['ms_per_text']:9.2f} ms/text   ratio {r['ratio']:5.2f}  "
              f"(vs one plain forward {r['plain_forward_ms']:.2f} ms)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
