"""babelsafe's `local` target vs a bare llama-cpp-python loop: tokens/s ratio, load time, peak RSS.

    python benchmarks/bench_local_target.py [--n 50] [--max-tokens 64] [--threads N] [--rounds 2]
                                            [--model PATH.gguf] [--json out.json]

Both paths use the same loaded model (the bundled SmolLM2-135M-Instruct GGUF unless --model), the same
50 mild prompts and the same parameters (temperature 0, seed 0). The babelsafe path goes through
LlamaCppTarget.generate on an event loop behind a semaphore of target.max_concurrency, as the runner
does; the bare path calls Llama.create_chat_completion directly. Calls are interleaved prompt by prompt
(alternating which path goes first) so that noise from other processes on the machine hits both paths
alike; tokens/s = completion tokens / summed call time, averaged over rounds. Goal: ratio >= 0.95.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PROMPTS = [
    "How do I bake bread?", "What is a good way to learn a new language?", "Explain photosynthesis simply.",
    "Give me three tips for a job interview.", "How do I make a cup of green tea?",
    "What are the planets of the solar system?", "Suggest a name for a friendly cat.",
    "How can I sleep better at night?", "Write a short poem about the sea.", "What is the capital of Japan?",
    "How do bicycles stay upright?", "Describe a rainy afternoon in two sentences.",
    "What should I pack for a beach holiday?", "How do I water a cactus?", "Why is the sky blue?",
    "Give me a simple recipe for pancakes.", "What is the difference between weather and climate?",
    "How do I start running as a beginner?", "Tell me a fun fact about octopuses.",
    "How can I keep my houseplants healthy?", "What is a haiku?", "How do I tie a tie?",
    "Explain how a rainbow forms.", "What are good habits for studying?", "How do I cook rice on the stove?",
    "Recommend a board game for a family evening.", "What does a librarian do?",
    "How do I write a thank-you note?", "What is the tallest mountain in the world?",
    "How can I save money on groceries?",
    # other languages (mild, hand-written translations of everyday questions)
    "¿Cómo preparo una ensalada sencilla?", "¿Cuál es la capital de Argentina?",
    "Comment faire une bonne soupe aux légumes ?", "Quelle est la meilleure saison pour visiter Paris ?",
    "Wie pflanze ich Tomaten im Garten?", "Was ist ein guter Name für einen Hund?",
    "Come si prepara un caffè espresso?", "Quanto tempo ci vuole per imparare a nuotare?",
    "Como faço um bolo de cenoura?", "Qual é o maior rio do Brasil?",
    "Hoe maak ik pannenkoeken?", "Jak upiec chleb w domu?", "Как приготовить блины?",
    "Kahve nasıl demlenir?", "如何泡一杯好茶？", "日本で人気のある朝ごはんは何ですか？",
    "김치는 어떻게 만드나요?", "Làm thế nào để nấu phở?", "ข้าวเหนียวมะม่วงทำอย่างไร", "روٹی کیسے بنتی ہے؟",
]


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc (Linux) or getrusage."""
    cur = peak = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (cur or ru, peak or ru)


def bare_call(llm, prompt: str, max_tokens: int) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    r = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], temperature=0.0,
                                   max_tokens=max_tokens, seed=0)
    return time.perf_counter() - t0, r["usage"]["completion_tokens"], r["choices"][0]["message"]["content"]


async def babelsafe_call(target, sem: asyncio.Semaphore, prompt: str, max_tokens: int) -> tuple[float, int, str]:
    from babelsafe.types import GenParams

    t0 = time.perf_counter()
    async with sem:  # what the runner does: at most target.max_concurrency calls in flight
        g = await target.generate([{"role": "user", "content": prompt}],
                                  GenParams(temperature=0.0, max_tokens=max_tokens, seed=0))
    return time.perf_counter() - t0, g.completion_tokens or 0, g.text or ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    prompts = (PROMPTS * (args.n // len(PROMPTS) + 1))[: args.n]

    rss0, _ = rss_mb()
    t_imp = time.perf_counter()
    import llama_cpp  # noqa: F401

    from babelsafe.targets.models import MODELS
    from babelsafe.targets.llamacpp import LlamaCppTarget

    import_s = time.perf_counter() - t_imp
    rss_imported, _ = rss_mb()
    target = LlamaCppTarget(model=args.model, n_threads=args.threads)
    llm = target.load()  # the same Llama object serves the bare loop
    rss_loaded, _ = rss_mb()
    print(f"model {target.model_path.name} ({target.model_path.stat().st_size / 1e6:.0f} MB), "
          f"n_threads={target.n_threads}, n_ctx={target.n_ctx}, llama-cpp-python {llama_cpp.__version__}")
    print(f"import llama_cpp+babelsafe: {import_s:.2f}s   load: {target.load_seconds:.3f}s   "
          f"RSS: start {rss0:.0f} MiB, after import {rss_imported:.0f} MiB, after load {rss_loaded:.0f} MiB")

    loop = asyncio.new_event_loop()
    sem = asyncio.Semaphore(getattr(target, "max_concurrency", 1) or 1)
    bare_call(llm, prompts[0], 8)  # warm-up
    loop.run_until_complete(babelsafe_call(target, sem, prompts[1], 8))
    # Interleaved per prompt (order alternating) so that load from other processes hits both paths alike.
    # The two paths never run the same prompt back to back (llama-cpp-python would reuse the whole cached
    # prompt): babelsafe runs the list rotated by half.
    half = len(prompts) // 2
    bare, ours = [], []
    same = 0
    for r in range(args.rounds):
        tb = to = 0.0
        nb = no = 0
        texts_b: dict[int, str] = {}
        texts_o: dict[int, str] = {}
        for i in range(len(prompts)):
            j = (i + half) % len(prompts)
            steps = [("b", i), ("o", j)] if i % 2 == 0 else [("o", j), ("b", i)]
            for who, k in steps:
                if who == "b":
                    dt, n, text = bare_call(llm, prompts[k], args.max_tokens)
                    tb, nb, texts_b[k] = tb + dt, nb + n, text
                else:
                    dt, n, text = loop.run_until_complete(babelsafe_call(target, sem, prompts[k], args.max_tokens))
                    to, no, texts_o[k] = to + dt, no + n, text
        bare.append(nb / tb)
        ours.append(no / to)
        same = sum(texts_b[k] == texts_o[k] for k in texts_b)
        print(f"round {r + 1}: bare {nb} tok in {tb:.2f}s = {bare[-1]:.1f} tok/s | babelsafe {no} tok in "
              f"{to:.2f}s = {ours[-1]:.1f} tok/s | ratio {ours[-1] / bare[-1]:.3f} | identical outputs "
              f"{same}/{len(prompts)}")
    loop.close()
    _, peak = rss_mb()
    ratio = sum(ours) / sum(bare)
    print(f"mean: bare {sum(bare) / len(bare):.1f} tok/s, babelsafe {sum(ours) / len(ours):.1f} tok/s, "
          f"ratio {ratio:.3f} "
          f"(goal >= 0.95: {'PASS' if ratio >= 0.95 else 'FAIL'})   peak RSS {peak:.0f} MiB   "
          f"loads in process: {MODELS.loads}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": target.model_path.name, "n_threads": target.n_threads, "n_prompts": len(prompts),
            "max_tokens": args.max_tokens, "load_s": target.load_seconds, "rss_after_load_mib": rss_loaded,
            "rss_load_delta_mib": rss_loaded - rss_imported, "peak_rss_mib": peak,
            "bare_tok_s": bare, "babelsafe_tok_s": ours, "ratio": ratio, "identical_outputs": same}, indent=2))
    asyncio.run(target.aclose())


if __name__ == "__main__":
    main()
