"""Benchmark: running a finished run again (every model call and verdict cached), as a user types it.

    python benchmarks/bench_rerun.py                                  # build both runs, time this tree
    python benchmarks/bench_rerun.py --baseline-src /tmp/main/src     # + another tree, interleaved, compared
    python benchmarks/bench_rerun.py --keep /tmp/rerun_runs --reps 5  # keep / reuse the built runs
    python benchmarks/bench_rerun.py --only xling                     # one of the two runs

Users meet this when they resume an interrupted run, add a judge to a finished one, or rerun after
changing the report: `babelsafe resume RUN` and `babelsafe run RUN/spec.yaml` into the same dir. Two
runs are built once with the real code path (`babelsafe.run`) against the loopback OpenAI-compatible
server of tests/fake_openai.py (0 latency):

- xling: the cross-lingual consistency task of bench_report_ci.py (ITEMS questions x 12 languages,
  self-consistency samples=2, verifiability on, consistency judge with a translator): a task replays
  every step on a rerun, so each answer's ~7 model calls are looked up in the cache again;
- safety: PROMPTS mild prompts (1 in 8 asks the server to refuse) answered once and judged by the
  `refusal` judge: the plain path (one call per probe, a verdict per judge).

Then for each repeat, run and tree (interleaved), a fresh copy of the built run at one fixed path gets
`babelsafe resume COPY` and, on another fresh copy, `babelsafe run COPY/spec.yaml --out COPY`, each a
child process (fresh interpreter; CPU = user + sys of the child, best of --reps; wall counts other
people's load). With --baseline-src, after the last repeat the two trees' results.sqlite are compared
row by row (every table, all columns but the `created` timestamps and the run's started/finished meta)
and their summary.json line by line (but its timestamps; bench_report_ci.same_summary), per command;
the ratio this/baseline is printed. Last (--phases), per tree in a child process: where
`babelsafe.resume(COPY, report=False)`'s CPU goes (the cache's start, the workers, the summary), best
of --reps, so the run's own work shows apart from start-up and the end-of-run summary.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_report_ci as xb  # noqa: E402

RUNS = ("xling", "safety")
COMMANDS = ("resume", "run")
# the store's per-session values: when rows were written, when the run started / finished
VOLATILE_COLUMNS = {"created"}
VOLATILE_META = {"started", "finished", "created"}


def serve(port: int = 0):
    """One loopback server for both runs: the consistency run's models `m` / `tr`, the echo rule else."""
    from fake_openai import FakeOpenAI, default_responder

    srv = FakeOpenAI(port=port).start() if port else FakeOpenAI().start()
    srv.keep_bodies = False
    srv.responder = lambda body: (xb.responder(body) if body.get("model") in ("m", "tr")
                                  else default_responder(body))
    os.environ.setdefault("BABELSAFE_BENCH_KEY", "sk-bench")
    return srv


def _target(srv, model: str) -> dict:
    return {"type": "openai", "model": model, "base_url": srv.base_url, "api_key_env": "BABELSAFE_BENCH_KEY"}


def build_xling(run_dir: Path, items: int, srv) -> None:
    import babelsafe
    from babelsafe.spec import load_spec

    data = run_dir.parent / "xling-questions.jsonl"
    xb.write_questions(data, items)
    babelsafe.run(load_spec(None, datasets=[{"name": "consistency", "options": {"path": str(data), "samples": 2}}],
                            languages=xb.LANGS,
                            judges=[{"name": "consistency", "options": {"translator": _target(srv, "tr")}}],
                            out=str(run_dir), targets=[_target(srv, "m")], concurrency=32))


def build_safety(run_dir: Path, prompts: int, srv) -> None:
    import babelsafe
    from babelsafe.spec import load_spec

    data = run_dir.parent / "safety-prompts.jsonl"
    langs = ("en", "es", "fr", "de")
    with data.open("w", encoding="utf-8") as f:
        for i in range(prompts):
            ask = "[refuse] " if i % 8 == 0 else ""
            f.write(json.dumps({"id": f"p{i:05d}", "language": langs[i % len(langs)],
                                "prompt": f"{ask}How do I keep basil fresh in a small kitchen, case {i}?"}) + "\n")
    babelsafe.run(load_spec(None, datasets=[str(data)], judges=["refusal"], out=str(run_dir),
                            targets=[_target(srv, "fake")], concurrency=32))


def store_rows(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows (sorted), less the columns and meta keys a session stamps."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple]] = {}
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] not in VOLATILE_COLUMNS]
            rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            if table == "meta":
                rows = [r for r in rows if r[0] not in VOLATILE_META]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def compare_stores(a: Path, b: Path) -> str:
    ra, rb = store_rows(a), store_rows(b)
    diffs = []
    for table in sorted(set(ra) | set(rb)):
        x, y = ra.get(table, []), rb.get(table, [])
        if x != y:
            diffs.append(f"{table}: {len(set(x) ^ set(y))} rows differ ({len(x)} vs {len(y)})")
    n = sum(len(v) for v in ra.values())
    return f"identical ({n:,} rows)" if not diffs else "DIFFERENT: " + "; ".join(diffs)


def spec_port(run_dir: Path) -> int | None:
    m = re.search(r"base_url: http://127\.0\.0\.1:(\d+)/", (run_dir / "spec.yaml").read_text(encoding="utf-8"))
    return int(m.group(1)) if m else None


PHASES = (("babelsafe.engine.caller", "StoreCache", "__init__", "StoreCache start (stored keys)"),
          ("babelsafe.engine.scheduler", "_Work", "__init__", "finished / judged sets"),
          ("babelsafe.engine.scheduler", "Runner", "_drive", "the workers (every probe, cache reads)"),
          ("babelsafe.results.store", "Store", "close", "the store's last writes"),
          ("babelsafe.engine.scheduler", None, "finalize", "summary.json (metrics)"))


def phases_child(run_dir: Path, work: Path, reps: int) -> None:
    """(In a child with the tree on PYTHONPATH) resume copies of `run_dir`, named steps timed (CPU s)."""
    import babelsafe
    from phase_timer import PhaseTimer

    def fresh_copy() -> None:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(run_dir, work)

    with PhaseTimer(PHASES) as timer:
        best = timer.best_of(reps, lambda: babelsafe.resume(work, report=False), setup=fresh_copy)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(best))


def phases(run_dir: Path, trees: dict[str, Path], tmp: Path, reps: int) -> None:
    import subprocess

    got = {}
    for tree, src in trees.items():
        out = subprocess.run([sys.executable, __file__, "--phase-child", str(run_dir), "--reps", str(reps),
                              "--keep", str(tmp / "phase-work")], env=xb.child_env(src), check=True,
                             capture_output=True, text=True).stdout
        got[tree] = json.loads(out.strip().splitlines()[-1])
    print(f"where `babelsafe.resume(RUN, report=False)`'s CPU goes (in process, best of {reps}, s):")
    print("  " + " ".join(f"{t:>9s}" for t in got) + "  step")
    for key in ["total"] + [p[-1] for p in PHASES]:
        print("  " + " ".join(f"{got[t].get(key, 0.0):9.3f}" for t in got) + f"  {key}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=400, help="consistency questions (x 12 languages)")
    ap.add_argument("--prompts", type=int, default=3000, help="safety prompts (refusal judge)")
    ap.add_argument("--keep", type=Path, help="build the runs here (reused when they exist)")
    ap.add_argument("--baseline-src", type=Path, help="another tree's src (e.g. main's), interleaved")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=RUNS, help="only this run")
    ap.add_argument("--phases", action="store_true", help="also where a resume's CPU goes, per tree")
    ap.add_argument("--phase-child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase_child:  # (a child of --phases: the server is the parent's)
        phases_child(a.phase_child, a.keep, a.reps)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_rerun_"))
    keep = a.keep.resolve() if a.keep else tmp / "built"
    runs = {name: keep / name for name in ((a.only,) if a.only else RUNS)}
    trees = {"this": ROOT / "src"}
    if a.baseline_src:
        trees = {"baseline": a.baseline_src.resolve(), **trees}
    sys.path.insert(0, str(ROOT / "src"))
    built = [d for d in runs.values() if (d / "results.sqlite").exists()]
    srv = serve(spec_port(built[0]) if built else 0)
    try:
        for name, run_dir in runs.items():
            if (run_dir / "results.sqlite").exists():
                if spec_port(run_dir) != srv.port:
                    sys.exit(f"{run_dir} was built against port {spec_port(run_dir)}, not {srv.port}: rebuild it")
                continue
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            (build_xling if name == "xling" else build_safety)(run_dir, a.items if name == "xling" else a.prompts, srv)
            print(f"built {name}: {run_dir} in {time.perf_counter() - t0:.0f} s")
        for name, run_dir in runs.items():
            con = sqlite3.connect(str(run_dir / "results.sqlite"))
            n, calls, verdicts = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                  for t in ("generations", "calls", "verdicts"))
            con.close()
            print(f"\n## {name}: {n:,} answers, {calls:,} stored calls, {verdicts:,} verdicts; every one cached")
            work = tmp / f"{name}-run"  # one path for every copy: the spec each command stores names it
            for cmd in COMMANDS:
                best: dict[str, tuple[float, float]] = {}
                for _ in range(a.reps):
                    for tree, src in trees.items():
                        shutil.rmtree(work, ignore_errors=True)
                        shutil.copytree(run_dir, work)
                        args = ["resume", str(work)] if cmd == "resume" else ["run", str(work / "spec.yaml"),
                                                                              "--out", str(work)]
                        cpu, wall = xb.timed_cli(src, args)
                        old = best.get(tree, (1e9, 1e9))
                        best[tree] = (min(old[0], cpu), min(old[1], wall))
                        kept = tmp / f"{name}-{cmd}-{tree}"
                        shutil.rmtree(kept, ignore_errors=True)
                        work.rename(kept)
                shown = f"babelsafe resume RUN" if cmd == "resume" else "babelsafe run RUN/spec.yaml --out RUN"
                print(f"`{shown}` (subprocess), best of {a.reps}:")
                for tree, (cpu, wall) in best.items():
                    print(f"  {tree:9s} {cpu:6.2f} s CPU  {wall:6.2f} s wall  ({trees[tree]})")
                if a.baseline_src:
                    b, t = (tmp / f"{name}-{cmd}-{x}" for x in ("baseline", "this"))
                    print(f"  this/baseline CPU {best['this'][0] / best['baseline'][0]:.3f} "
                          f"(x{best['baseline'][0] / best['this'][0]:.2f})")
                    print(f"  results.sqlite: {compare_stores(b / 'results.sqlite', t / 'results.sqlite')}")
                    print(f"  summary.json identical (but {', '.join(xb.VOLATILE)}): "
                          f"{xb.same_summary(b / 'summary.json', t / 'summary.json')}")
            if a.phases:
                phases(run_dir, trees, tmp, a.reps)
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
