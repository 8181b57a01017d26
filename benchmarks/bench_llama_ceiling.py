"""The ceiling for batching the `local` target: raw llama_decode, B sequences x 1 token per call.

    python benchmarks/bench_llama_ceiling.py [--model PATH ...] [--batches 1,2,4,8] [--steps 48]
                                            [--repeats 3] [--threads 1] [--flash]

No babelsafe code on the timed path: one llama.cpp context per model with the batch engine's
settings (one KV stream per sequence, 4096 cells each, flash attention off as llama-cpp-python's
Llama sets it), each sequence holding an 80-token prompt, then `--steps` decode calls that each
add one token to each of B sequences with logits for every token. Every (model, B) is timed
`--repeats` times, interleaved, in one process; the best repeat counts (the machine may be
shared). Prints tokens per second and per CPU-second of the thread, and the ratio to B=1: what
batching can gain at most on this CPU, before any Python work. Also times the prefill of 4 prompts
as 4 decode calls vs one. Default model: the bundled SmolLM2-135M (Q4_1).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PROMPT = 80


class Ctx:
    def __init__(self, path: str, n_seq: int, threads: int, flash: bool):
        import llama_cpp as lc

        self.lc, self.name = lc, Path(path).name
        mp = lc.llama_model_default_params()
        self.model = lc.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise SystemExit(f"could not load {path}: is it a GGUF file?")
        cp = lc.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_seq_max, cp.kv_unified = 4096 * n_seq, 512, n_seq, False
        cp.n_threads = cp.n_threads_batch = threads
        cp.flash_attn_type = 1 if flash else 0
        self.ctx = lc.llama_init_from_model(self.model, cp)
        self.mem = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(512, 0, 1)

    def _put(self, k: int, tok: int, pos: int, seq: int, logits: bool) -> None:
        b = self.batch
        b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = tok, pos, 1, logits
        b.seq_id[k][0] = seq

    def _decode(self, n: int) -> None:
        self.batch.n_tokens = n
        if self.lc.llama_decode(self.ctx, self.batch) != 0:
            raise SystemExit("llama_decode failed")

    def prefill(self, n_seq: int, together: bool) -> None:
        self.lc.llama_memory_clear(self.mem, True)
        k = 0
        for s in range(n_seq):
            if k + PROMPT > 512:  # n_batch
                self._decode(k)
                k = 0
            for i in range(PROMPT):
                self._put(k, 1000 + i, i, s, i == PROMPT - 1)
                k += 1
            if not together:
                self._decode(k)
                k = 0
        if k:
            self._decode(k)

    def decode(self, n_seq: int, steps: int) -> None:
        for st in range(steps):
            for s in range(n_seq):
                self._put(s, 2000 + st, PROMPT + st, s, True)
            self._decode(n_seq)


def timed(fn, *args) -> tuple[float, float]:
    w, c = time.perf_counter(), time.thread_time()
    fn(*args)
    return time.perf_counter() - w, time.thread_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append")
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flash", action="store_true", help="flash attention on (Llama's default is off)")
    a = ap.parse_args()
    from babelsafe.targets.llamacpp import bundled_model_path

    batches = [int(x) for x in a.batches.split(",")]
    ctxs = [Ctx(p, max(batches + [4]), a.threads, a.flash) for p in (a.model or [str(bundled_model_path())])]
    for c in ctxs:  # warm up
        c.prefill(max(batches), True)
        c.decode(max(batches), 4)
    best: dict[tuple[str, int], tuple[float, float]] = {}
    pre: dict[tuple[str, bool], tuple[float, float]] = {}
    for _ in range(a.repeats):
        for c in ctxs:
            for b in batches:
                c.prefill(b, True)
                w, cpu = timed(c.decode, b, a.steps)
                old = best.get((c.name, b), (1e9, 1e9))
                best[(c.name, b)] = (min(old[0], w), min(old[1], cpu))
            for together in (False, True):
                w, cpu = timed(c.prefill, 4, together)
                old = pre.get((c.name, together), (1e9, 1e9))
                pre[(c.name, together)] = (min(old[0], w), min(old[1], cpu))
    print(f"raw llama_decode, n_threads={a.threads}, flash attention {'on' if a.flash else 'off'}, "
          f"{a.steps} steps, best of {a.repeats}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for c in ctxs:
        w1, c1 = best[(c.name, batches[0])]
        print(f"  {c.name}")
        for b in batches:
            w, cpu = best[(c.name, b)]
            n = b * a.steps
            print(f"    {b} sequence(s): {n / w:7.1f} tokens/s x{w1 * b / w / batches[0]:.2f};  "
                  f"{n / cpu:7.1f} tokens/CPU-s x{c1 * b / cpu / batches[0]:.2f}")
        (ws, cs), (wt, ct) = pre[(c.name, False)], pre[(c.name, True)]
        print(f"    prefill 4 x {PROMPT} tokens: {4 * PROMPT / cs:.0f} tokens/CPU-s as 4 calls, "
              f"{4 * PROMPT / ct:.0f} as one (x{cs / ct:.2f})")


if __name__ == "__main__":
    main()
