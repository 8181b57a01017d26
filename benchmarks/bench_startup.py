"""CLI start-up: wall and CPU (user+sys of the child) per command, median over repeats.

    python benchmarks/bench_startup.py [--repeats 7] [--baseline OTHER_CHECKOUT/src] [--no-run]

Commands: `--help`, `run --help`, `list datasets`, `list judges`, and a tiny run (5 prompts, refusal
judge, store, summary, report.html/CSV/Parquet) against the loopback server (tests/fake_openai.py, no
latency). With --baseline the same commands run from that source tree too, alternating with this one
in every repeat, and the table gives both and their ratio (compare ratios; prints the load average).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], src: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run of `cmd` with `src` first on PYTHONPATH."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env={**env, "PYTHONPATH": src}, timeout=600)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}) with {src}:\n{res.stderr[-2000:]}")
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--baseline", help="another checkout's src/ to compare with, e.g. /work/main/src")
    ap.add_argument("--no-run", action="store_true", help="leave out the tiny run")
    args = ap.parse_args()
    trees = {"this": str(ROOT / "src")}
    if args.baseline:
        trees["baseline"] = str(Path(args.baseline).resolve())
    py = [sys.executable, "-m", "babelsafe"]
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "BABELSAFE_BENCH_KEY": "x"}
    cmds = {"--help": ["--help"], "run --help": ["run", "--help"], "list datasets": ["list", "datasets"],
            "list judges": ["list", "judges"]}
    server = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    if not args.no_run:
        server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "0", "0"],
                                  stdout=subprocess.PIPE, text=True)
        url = server.stdout.readline().strip()
        data = tmp / "tiny.jsonl"
        data.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": f"How do I bake loaf {i}?"})
                                + "\n" for i in range(5)), encoding="utf-8")
        cmds["tiny run"] = ["run", "-d", str(data), "--target", "openai", "--model", "fake", "--base-url", url,
                            "--api-key-env", "BABELSAFE_BENCH_KEY", "-j", "refusal", "--no-cache", "--out",
                            str(tmp / "run")]
    print(f"load before: {os.getloadavg()}")
    got: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for r in range(args.repeats):
            order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
            for name, cmd in cmds.items():
                for tree, src in order:
                    got.setdefault((name, tree), []).append(timed(py + cmd, src, env))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    print(f"load after:  {os.getloadavg()}  ({args.repeats} repeats, medians, ms)")
    head = f"{'command':16s}" + "".join(f"{t + ' wall':>15s}{t + ' cpu':>14s}" for t in trees)
    print(head + ("   cpu this/baseline" if args.baseline else ""))
    for name in cmds:
        line = f"{name:16s}"
        cpu = {}
        for tree in trees:
            runs = got[(name, tree)]
            wall, cpu[tree] = (statistics.median(x[i] for x in runs) * 1000 for i in (0, 1))
            line += f"{wall:15.0f}{cpu[tree]:14.0f}"
        if args.baseline:
            line += f"   {cpu['this'] / cpu['baseline']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
