"""Where a step of the `local` target's batch engine goes, next to raw llama_decode on the same context.

    python benchmarks/prof_local_batch.py [--n 12] [--max-tokens 48] [--parallel 4] [--threads 1]
                                          [--rounds 2] [--orders engine,before] [--model X.gguf]

One process, the bundled SmolLM2-135M unless --model. Each round, for each order, a batch engine answers
--n mild prompts at temperature 0 with --parallel requests in flight (as bench_local_batch.py does); then
raw llama_decode steps of 1..parallel sequences x 1 token run on that engine's own context. Orders:
`engine` is the engine as it is; `before` replays how it ran before its steps were sorted (admission
order, free sequence ids reused last-in first-out). The engine's methods are wrapped with timers (thread
CPU on the engine's thread), so runs are slightly slower than unwrapped ones. Prints, per order, summed
over the rounds, per decode step and per generated token:
  - llama_decode of the decode steps vs the Python around it (filling the batch),
  - sampling (llama.cpp's sampler chain, one call per sequence), accepting a token (detokenise, stops),
  - prefill of new sequences (their llama_decode calls, first sample, the Python around them),
  - the loop's own work (the rest of the engine thread), the event loop thread's CPU (chat template,
    tokenising, futures), how full the steps were and how many llama.cpp micro-batches they became,
  - the median llama_decode CPU of the engine's k-sequence steps vs the raw k-sequence steps.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_local_target import PROMPTS


class Meter:
    """Thread-CPU and wall seconds per named part, and call counts."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = collections.defaultdict(float)
        self.wall: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)

    def wrap(self, name: str, fn):
        def timed(*a, **k):
            w, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                self.cpu[name] += time.thread_time() - c
                self.wall[name] += time.perf_counter() - w
                self.calls[name] += 1
        return timed


class Run:
    """What one instrumented run recorded: the meter, and per decode step its size, micro-batches and
    llama_decode CPU seconds."""

    def __init__(self) -> None:
        self.meter = Meter()
        self.steps: list[tuple[int, int, float]] = []


def instrument(engine, order: str):
    """Wrap the engine's parts in timers; llama_decode calls are told apart by the caller that made them.
    order="before" puts each decode step's sequences in the order they were admitted, as the engine did
    before it sorted them (with LIFO sequence ids: see `run_before`). Returns a function giving a fresh
    Run."""
    ctx_decode = engine.ctx.decode
    where = threading.local()
    state = {"run": Run()}
    admitted: dict[int, int] = {}

    def decode(batch):
        run = state["run"]
        if getattr(where, "prefill", False):
            return run.meter.wrap("prefill llama_decode", ctx_decode)(batch)
        c = time.thread_time()
        try:
            return run.meter.wrap("step llama_decode", ctx_decode)(batch)
        finally:
            where.step_cpu = time.thread_time() - c

    engine.ctx.decode = decode
    start, step = engine._start, engine._decode_step

    def _start(*a, **k):
        where.prefill = True
        try:
            seq = state["run"].meter.wrap("prefill total", start)(*a, **k)
        finally:
            where.prefill = False
        if seq is not None:
            admitted[id(seq)] = len(admitted)
        return seq

    def _decode_step(gen):
        run = state["run"]
        if order == "before":  # in place: the loop samples row i for gen[i]
            gen.sort(key=lambda q: admitted[id(q)])
        r = run.meter.wrap("step total", step)(gen)
        run.steps.append((len(gen), n_ubatches([q.sid for q in gen]), where.step_cpu))
        return r

    engine._start, engine._decode_step = _start, _decode_step
    accept = engine._accept

    def _accept(*a):  # sampling and accepting inside a prefill count as the prefill's
        name = "prefill accept" if getattr(where, "prefill", False) else "accept"
        return state["run"].meter.wrap(name, accept)(*a)

    engine._accept = _accept
    make = engine._sampler

    def _sampler(kw, seed):
        s = make(kw, seed)
        sample = s.sample
        s.sample = lambda *a: state["run"].meter.wrap(
            "prefill sample" if getattr(where, "prefill", False) else "sample", sample)(*a)
        return s

    engine._sampler = _sampler

    def fresh() -> Run:
        state["run"] = Run()
        return state["run"]

    return fresh


def n_ubatches(sids: list[int]) -> int:
    """How many llama.cpp micro-batches a decode step with these sequence ids (in batch order) becomes.

    With one KV stream per sequence, llama_batch_allocr::split_equal(sequential=true) takes, pass after
    pass, the unused tokens whose sequence id is the previous one's + 1 ("accept only increasing sequence
    ids", src/llama-batch.cpp); each pass is one graph computation. Ids 0,2,3 are two passes, 3,2,1,0 four.
    """
    left, n = list(sids), 0
    while left:
        n += 1
        last, rest = None, []
        for s in left:
            if last is None or s == last + 1:
                last = s
            else:
                rest.append(s)
        left = rest
    return n


def thread_cpu(t: threading.Thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(t.ident))


def raw_steps(engine, k: int, pos0: int, steps: int) -> list[float]:
    """k sequences x 1 token per llama_decode on the engine's context; the CPU seconds of each call."""
    import llama_cpp as lc

    b = engine.batch.batch
    for s in range(k):  # a clean stream per sequence, pos0 tokens long (one prefill each)
        lc.llama_memory_seq_rm(engine.ctx.memory, s, -1, -1)
        b.n_tokens = pos0
        for i in range(pos0):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = 1000 + i, i, 1, i == pos0 - 1
            b.seq_id[i][0] = s
        lc.llama_decode(engine.ctx.ctx, b)
    cs = []
    for st in range(steps):
        b.n_tokens = k
        for s in range(k):
            b.token[s], b.pos[s], b.n_seq_id[s], b.logits[s] = 2000 + st, pos0 + st, 1, True
            b.seq_id[s][0] = s
        c = time.thread_time()
        if lc.llama_decode(engine.ctx.ctx, b) != 0:  # not engine.ctx.decode: that one is timed as the engine's
            raise RuntimeError("llama_decode failed")
        cs.append(time.thread_time() - c)
    for s in range(k):
        lc.llama_memory_seq_rm(engine.ctx.memory, s, -1, -1)
    engine._kv = [[] for _ in range(engine.n_seq)]  # the streams no longer hold the last requests
    return cs


class _Lifo:
    """heapq's two calls as the engine's free-id list used them before: last freed, first reused."""

    @staticmethod
    def heappop(xs: list[int]) -> int:
        return xs.pop()

    @staticmethod
    def heappush(xs: list[int], x: int) -> None:
        xs.append(x)


async def run_before(coro):
    """Run `coro` with the engine's free sequence ids handed out LIFO, as before this profile's fix."""
    from babelsafe.targets import llama_batch

    saved, llama_batch.heapq = llama_batch.heapq, _Lifo
    try:
        return await coro
    finally:
        llama_batch.heapq = saved


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def report(name: str, runs: list[tuple[Run, float, float, float, int]], raw: dict[int, list[float]],
           n_seq: int) -> None:
    """Sums over the rounds of one mode; per-step CPU medians next to the raw steps' medians."""
    m = Meter()
    steps: list[tuple[int, int, float]] = []
    wall = eng = loop = 0.0
    toks = 0
    for run, w, e, lp, t in runs:
        for k, v in run.meter.cpu.items():
            m.cpu[k] += v
        for k, v in run.meter.calls.items():
            m.calls[k] += v
        steps += run.steps
        wall, eng, loop, toks = wall + w, eng + e, loop + lp, toks + t
    n = len(steps)
    sl = m.cpu["step llama_decode"]
    pre = ["prefill sample", "prefill accept"]
    parts = [
        ("decode steps: llama_decode", sl),
        ("decode steps: Python around it", m.cpu["step total"] - sl),
        ("sampling (llama.cpp sampler)", m.cpu["sample"]),
        ("accept (detokenise, stops)", m.cpu["accept"]),
        ("prefill: llama_decode", m.cpu["prefill llama_decode"]),
        ("prefill: first sample + accept", sum(m.cpu[k] for k in pre)),
        ("prefill: Python around it",
         m.cpu["prefill total"] - m.cpu["prefill llama_decode"] - sum(m.cpu[k] for k in pre)),
    ]
    rest = eng - sum(c for _, c in parts)
    sizes = [k for k, _, _ in steps]
    hist = collections.Counter(sizes)
    print(f"\n{name}: {toks} tokens, {n} decode steps, {m.calls['prefill total']} prefills, wall {wall:.2f} s "
          f"= {toks / wall:.1f} tokens/s; {toks / (eng + loop):.1f} tokens per CPU-s (engine + event loop)")
    print(f"  sequences per decode step: mean {statistics.mean(sizes):.2f} ("
          + ", ".join(f"{k}: {hist[k]}" for k in sorted(hist)) + "); llama.cpp micro-batches per step: mean "
          f"{statistics.mean(u for _, u, _ in steps):.2f}, {sum(u > 1 for _, u, _ in steps)} steps split")
    print(f"  {'part':34s} {'CPU-s':>7s} {'share':>6s} {'ms/step':>8s} {'ms/token':>8s}")
    for label, c in parts + [("engine loop, rest", rest), ("event loop thread", loop)]:
        print(f"  {label:34s} {c:7.3f} {c / (eng + loop):6.1%} {1e3 * c / n:8.3f} {1e3 * c / toks:8.3f}")
    print("  llama_decode CPU per decode step, median, engine vs raw (same rounds):")
    for k in range(1, n_seq + 1):
        mine = [c for s, _, c in steps if s == k]
        if mine:
            print(f"    {k} sequence(s): engine {1e3 * med(mine):6.1f} ms ({len(mine)} steps), raw "
                  f"{1e3 * med(raw[k]):6.1f} ms: x{med(mine) / med(raw[k]):.2f}")
    at_raw = sum(med(raw[k]) for k in sizes)
    print(f"  decode steps at the raw median cost: {at_raw:.3f} CPU-s vs {sl:.3f} measured (x{sl / at_raw:.2f})")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--raw-steps", type=int, default=16)
    ap.add_argument("--orders", default="engine,before",
                    help="engine: the engine as it is; before: each step's sequences in admission order and "
                         "free sequence ids reused last-in first-out, as the engine ran before it kept them "
                         "sorted and consecutive")
    ap.add_argument("--model")
    a = ap.parse_args()
    from babelsafe.targets.llamacpp import LlamaCppTarget
    from babelsafe.types import GenParams

    orders = a.orders.split(",")
    params = GenParams(temperature=0.0, max_tokens=a.max_tokens, seed=0)
    prompts = PROMPTS[: a.n]
    sem = asyncio.Semaphore(a.parallel)
    targets, fresh = {}, {}
    for o in orders:  # one target (and engine) per order, the model loaded once
        t = LlamaCppTarget(model=a.model, n_threads=a.threads, parallel=a.parallel)
        await t.generate([{"role": "user", "content": prompts[0]}], params)  # load, engine, warm-up
        targets[o], fresh[o] = t, instrument(t._engine, o)

    async def one(t, p: str):
        async with sem:
            return await t.generate([{"role": "user", "content": p}], params)

    runs: dict[str, list] = {o: [] for o in orders}
    raw: dict[int, list[float]] = collections.defaultdict(list)
    texts: dict[str, list[str]] = {}
    for r in range(a.rounds):
        for o in orders[r % len(orders):] + orders[: r % len(orders)]:
            t = targets[o]
            engine, run = t._engine, fresh[o]()
            e0, m0, w0 = thread_cpu(engine._thread), time.thread_time(), time.perf_counter()
            work = asyncio.gather(*(one(t, p) for p in prompts))
            gens = await (run_before(work) if o == "before" else work)
            runs[o].append((run, time.perf_counter() - w0, thread_cpu(engine._thread) - e0,
                            time.thread_time() - m0, sum(g.completion_tokens or 0 for g in gens)))
            texts[o] = [g.text for g in gens]
            for k in range(1, a.parallel + 1):  # raw steps between the runs, on this engine's context
                raw[k] += raw_steps(engine, k, 40 + a.max_tokens // 2, a.raw_steps)
    print(f"{len(prompts)} prompts x <= {a.max_tokens} tokens, parallel={a.parallel}, n_threads={a.threads}, "
          f"{a.rounds} round(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; answers "
          f"identical across orders: {all(v == texts[orders[0]] for v in texts.values())}")
    print("raw llama_decode, k sequences x 1 token on the engine's context (median CPU per step):")
    for k in range(1, a.parallel + 1):
        print(f"  {k}: {1e3 * med(raw[k]):6.1f} ms = {1e3 * med(raw[k]) / k:5.1f} ms/token, "
              f"x{med(raw[1]) * k / med(raw[k]):.2f} tokens/CPU-s vs 1")
    for o in orders:
        report(o, runs[o], raw, a.parallel)
    for t in targets.values():
        await t.aclose()


if __name__ == "__main__":
    asyncio.run(main())
