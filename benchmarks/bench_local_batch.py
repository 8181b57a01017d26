"""The `local` target with continuous batching: tokens/s at 1, 2, 4 sequences vs the serial path.

    python benchmarks/bench_local_batch.py [--n 16] [--max-tokens 64] [--rounds 2] [--threads N]

One process, one loaded model (the bundled SmolLM2-135M-Instruct unless --model). For each round, in
rotating order: the serial path (parallel=1: Llama.create_chat_completion under a lock, what the
runner used before) and the batch engine at 2 and 4 sequences, each answering the same --n mild
prompts at temperature 0 with that many requests in flight. tokens/s = completion tokens / wall time;
tokens per CPU-second (process user+sys) is the figure that survives a busy machine.
Also checks that every path gave the same answers. The machine may be shared: compare the ratios.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_local_target import PROMPTS  # noqa: E402


async def answer(target, prompts: list[str], params, conc: int) -> tuple[float, int, list[str]]:
    sem = asyncio.Semaphore(conc)

    async def one(p: str):
        async with sem:
            return await target.generate([{"role": "user", "content": p}], params)

    c0, t0 = _cpu(), time.perf_counter()
    gens = await asyncio.gather(*(one(p) for p in prompts))
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    return dt, cpu, sum(g.completion_tokens or 0 for g in gens), [g.text for g in gens]


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--model")
    ap.add_argument("--levels", default="1,2,4")
    a = ap.parse_args()
    from babelsafe.targets.llamacpp import LlamaCppTarget
    from babelsafe.types import GenParams

    levels = [int(x) for x in a.levels.split(",")]
    targets = {k: LlamaCppTarget(model=a.model, n_threads=a.threads, parallel=k) for k in levels}
    params = GenParams(temperature=0.0, max_tokens=a.max_tokens, seed=0)
    prompts = PROMPTS[: a.n]
    for t in targets.values():  # load, create the engines, warm up
        await answer(t, prompts[:2], params, t.parallel)
    res: dict[int, list[float]] = {k: [] for k in levels}
    per_cpu: dict[int, list[float]] = {k: [] for k in levels}
    texts: dict[int, list[str]] = {}
    for r in range(a.rounds):
        order = levels[r % len(levels):] + levels[: r % len(levels)]
        for k in order:
            dt, cpu, toks, out = await answer(targets[k], prompts, params, k)
            res[k].append(toks / dt)
            per_cpu[k].append(toks / cpu)
            texts[k] = out
            print(f"  round {r} parallel={k}: {toks} tokens in {dt:.1f} s = {toks / dt:.1f} tokens/s; "
                  f"{toks / cpu:.1f} tokens per CPU-second", flush=True)
    base = statistics.median(res[levels[0]])
    base_cpu = statistics.median(per_cpu[levels[0]])
    t0 = targets[levels[0]]
    print(f"\n{len(prompts)} prompts x <= {a.max_tokens} tokens, temperature 0, n_threads={t0.n_threads}, "
          f"{a.rounds} round(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for k in levels:
        xs = sorted(res[k])
        same = texts[k] == texts[levels[0]]
        label = "serial path" if k == 1 else f"batched, {k} sequences"
        cs = sorted(per_cpu[k])
        print(f"  {label:22s}: {statistics.median(xs):6.1f} tokens/s [{xs[0]:.1f}-{xs[-1]:.1f}] "
              f"x{statistics.median(xs) / base:.2f};  {statistics.median(cs):6.1f} tokens/CPU-s "
              f"[{cs[0]:.1f}-{cs[-1]:.1f}] x{statistics.median(cs) / base_cpu:.2f} vs serial;  "
              f"answers identical: {same}")
    for t in targets.values():
        await t.aclose()


if __name__ == "__main__":
    asyncio.run(main())
