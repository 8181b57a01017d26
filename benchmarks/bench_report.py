"""Benchmark: summary + report on a synthetic 1,000,000-sample store, and a real run's memory.

    python benchmarks/bench_report.py            # 1M samples (default)
    python benchmarks/bench_report.py --n 100000 # the issue-14 bar: <= 3 s for summary+report+CSV+Parquet
    python benchmarks/bench_report.py --n 100000 --keep /tmp/r100k --reuse --workers 1   # one process
    python benchmarks/bench_report.py --n 200000 --keep /tmp/bench_run
    python benchmarks/bench_report.py --run 100000      # a real 100k-sample CLI run: peak RSS, end-of-run
    python benchmarks/bench_report.py --stream 1000000  # a 1M-prompt file: RSS and time to first request

--run N: `babelsafe run` (judge refusal, report, CSV, Parquet) over N mild prompts against the loopback
server with no latency; prints wall time, peak RSS of the whole process (goal <= 500 MiB at 100k) and
the end-of-run phases from run.log. --stream N: starts a run over an N-prompt file, stops it (SIGINT, as
Ctrl-C) once 2,000 requests were answered and prints the peak RSS and the time to the first request:
a run that streams its dataset starts at once and stays small; one that materialises it does not.

Builds a run dir whose results.sqlite follows babelsafe.results' schema (rows written directly with
sqlite3.executemany), then times the end of a run as `babelsafe run` does it (`write_report` with a fresh
summary: summary.json, report.html, results.csv, results.parquet) in a fresh process (so peak RSS is the
report's, not the builder's) and prints wall time, CPU time (this process and any export helper), peak
RSS and the ratio against a baseline: a plain `SELECT count(*)` pass joining the same four tables.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LANGS = ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]
CATS = [f"cat_{i:02d}" for i in range(14)]
RESPONSES = [
    "I'm sorry, but I can't help with that request.",
    "Sure. Bread needs flour, water, salt and yeast; knead for ten minutes, let it rise, then bake.",
    "I cannot assist with this. If you are in danger, please contact local emergency services.",
    "Here is some general information about the topic, without specific instructions.",
    "<script>document.title='pwned'</script> <img src=x onerror=\"document.title='pwned'\"> text",
]


def build_store(path: Path, n: int, seed: int = 0, judges: tuple[str, ...] = ("refusal",)) -> None:
    """Write a synthetic store with `n` samples (n/len(LANGS) items x LANGS), one probe, one generation
    and one verdict per judge each. ~1% errors, ~0.5% content filter, ~0.5% judge errors, 10% benign."""
    try:
        from babelsafe.results import SCHEMA, SCHEMA_VERSION
    except ImportError:  # babelsafe before the results package (to measure the old code)
        from babelsafe.store import SCHEMA, SCHEMA_VERSION
    v2 = SCHEMA_VERSION >= 2  # samples.label, probes.pair_id / pair_role columns

    rnd = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(SCHEMA)
    now = time.time()
    spec = {"judges": [{"name": j, "options": {}} for j in judges], "seed": seed,
            "datasets": [{"name": "synthetic", "options": {}}], "targets": [{"type": "openai", "model": "bench-model"}]}
    con.executemany("INSERT INTO meta VALUES (?,?)", [
        ("schema_version", str(SCHEMA_VERSION)), ("created", str(now)), ("spec", json.dumps(spec)),
        ("babelsafe_version", "bench")])
    con.execute("INSERT INTO components VALUES (?,?,?)",
                ("target", "openai:bench-model", json.dumps({"model": "bench-model", "temperature": 0.0})))
    for j in judges:
        con.execute("INSERT INTO components VALUES (?,?,?)", ("judge", j, json.dumps({"name": j})))
    con.commit()
    lang_bias = {lang: 0.02 + 0.03 * i for i, lang in enumerate(LANGS)}
    batch = 50_000
    items = max(1, n // len(LANGS))
    rows_s, rows_p, rows_g, rows_v = [], [], [], []
    done = 0
    for item in range(items):
        cat = CATS[item % len(CATS)]
        benign = item % 10 == 0
        meta = '{"label":"benign"}' if benign else '{"label":"harmful"}'
        for lang in LANGS:
            if done >= n:
                break
            done += 1
            sk = f"s{item}_{lang}"
            pk = f"p{item}_{lang}"
            prompt = f"Synthetic prompt {item} in {lang}: how do I bake bread?"
            rows_s.append((sk, "synthetic", str(item), lang, cat, prompt, meta)
                          + (("benign" if benign else "harmful",) if v2 else ()))
            rows_p.append((pk, sk, lang, "none", "[]",
                           json.dumps([{"role": "user", "content": prompt}]), "{}") + ((None, None) if v2 else ()))
            r = rnd.random()
            outcome = "error" if r < 0.01 else ("content_filter" if r < 0.015 else "ok")
            text = None if outcome != "ok" else RESPONSES[rnd.randrange(len(RESPONSES))]
            rows_g.append((pk, "openai:bench-model", "c" + pk, text, None, outcome,
                           "stop" if outcome == "ok" else None, 20, 40 if text else 0, 0.3,
                           "server error" if outcome == "error" else None,
                           "server" if outcome == "error" else None, 1, 0, now))
            if outcome == "ok":
                for j in judges:
                    r2 = rnd.random()
                    if r2 < 0.005:
                        label = "judge_error"
                    elif benign:
                        label = "full_refusal" if r2 < 0.15 else "full_compliance"
                    else:
                        label = ("full_compliance" if r2 < lang_bias[lang] else
                                 "partial_refusal" if r2 < lang_bias[lang] + 0.05 else
                                 "invalid" if r2 > 0.98 else "full_refusal")
                    rows_v.append((pk, "openai:bench-model", j, label, None, None,
                                   "judge failed" if label == "judge_error" else None, "{}", now))
            if len(rows_s) >= batch:
                _flush(con, rows_s, rows_p, rows_g, rows_v)
    _flush(con, rows_s, rows_p, rows_g, rows_v)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _flush(con: sqlite3.Connection, s: list, p: list, g: list, v: list) -> None:
    with con:
        if s:
            con.executemany(f"INSERT INTO samples VALUES ({','.join('?' * len(s[0]))})", s)
            con.executemany(f"INSERT INTO probes VALUES ({','.join('?' * len(p[0]))})", p)
        con.executemany("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", g)
        con.executemany("INSERT INTO verdicts VALUES (?,?,?,?,?,?,?,?,?)", v)
    for x in (s, p, g, v):
        x.clear()


def _baseline(db: Path) -> float:
    with open(db, "rb") as f:  # warm the page cache for both the baseline and the measured run
        while f.read(1 << 24):
            pass
    t = time.perf_counter()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.execute(
        "SELECT count(*) FROM generations g JOIN probes p ON p.probe_key=g.probe_key "
        "JOIN samples s ON s.sample_key=p.sample_key "
        "LEFT JOIN verdicts v ON v.probe_key=g.probe_key AND v.target=g.target").fetchone()
    con.close()
    return time.perf_counter() - t


def _child(run_dir: str, workers: int | None = None) -> None:
    """Run in a fresh process: the end of a run as `babelsafe run` does it (summary.json, report.html,
    results.csv, results.parquet: write_report with a fresh summary, one read of the store where it
    can); print JSON timings."""
    import logging
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # write_report logs its phases
    t0 = time.perf_counter()
    c0 = time.process_time()
    from babelsafe.reporting import html
    html.write_report(run_dir, recompute=True, workers=workers)
    t2 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)  # the export helper process, if one ran
    print(json.dumps({"total_s": t2 - t0, "peak_rss_mib": ru.ru_maxrss / 1024,
                      "helper_peak_rss_mib": ch.ru_maxrss / 1024, "main_cpu_s": time.process_time() - c0,
                      "cpu_s": ru.ru_utime + ru.ru_stime + ch.ru_utime + ch.ru_stime}))


def _prompts(path: Path, n: int) -> None:
    langs = ["en", "it", "sw", "zh", "ar"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": str(i), "language": langs[i % 5],
                                "prompt": f"How do I bake loaf number {i} of bread?"}) + "\n")


def _server(latency: float) -> tuple[subprocess.Popen, str]:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "tests" / "fake_openai.py"), "0", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _cli(url: str, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "babelsafe", "run", "-d", str(data), "--target", "openai", "--model", "m",
            "--base-url", url, "--judge", "refusal", "-c", "256", "--out", str(out)]


def real_run(n: int, tmp: Path) -> None:
    """A real CLI run of n samples: wall time, peak RSS, end-of-run phases."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "prompts.jsonl"
    _prompts(data, n)
    srv, url = _server(0.0)
    env = dict(os.environ, OPENAI_API_KEY="bench", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    try:
        t0 = time.perf_counter()
        with open(tmp / "cli.err", "wb") as err:
            p = subprocess.Popen(_cli(url, data, tmp / "run"), env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    finally:
        srv.terminate()
        srv.wait()
    log = (tmp / "run" / "run.log").read_text(encoding="utf-8") if (tmp / "run" / "run.log").exists() else ""
    phases = [ln.split(": ", 1)[-1] for ln in log.splitlines() if "report written" in ln]
    if not (tmp / "run" / "summary.json").exists():
        tail = (tmp / "cli.err").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"the run failed (exit {os.waitstatus_to_exitcode(status)}, {wall:.0f} s, peak RSS "
                         f"{ru.ru_maxrss / 1024:.0f} MiB); stderr tail:\n{tail}\nrun.log tail:\n{log[-3000:]}")
    c = json.loads((tmp / "run" / "summary.json").read_text())["counts"]
    print(f"real run, {n:,} samples (exit {os.waitstatus_to_exitcode(status)}, {c.get('completed')} answered): "
          f"{wall:.1f} s, CPU {ru.ru_utime + ru.ru_stime:.1f} s, peak RSS {ru.ru_maxrss / 1024:.0f} MiB "
          f"(goal <= 500 MiB at 100k)")
    for ph in phases:
        print("  " + ph)


def stream_check(n: int, tmp: Path, answered: int = 2000) -> None:
    """Start a run over an n-prompt file, stop it after `answered` requests: RSS and first-request time."""
    import signal
    import sqlite3

    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "prompts.jsonl"
    t = time.perf_counter()
    _prompts(data, n)
    print(f"wrote {n:,} prompts ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    srv, url = _server(0.0)
    env = dict(os.environ, OPENAI_API_KEY="bench", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    db = tmp / "run" / "results.sqlite"
    first = None
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(_cli(url, data, tmp / "run") + ["--no-report"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = 0
        while p.poll() is None and time.perf_counter() - t0 < 600:
            time.sleep(0.5)
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                done = con.execute("SELECT count(*) FROM generations").fetchone()[0]
                con.close()
            except sqlite3.Error:
                continue
            if done and first is None:
                first = time.perf_counter() - t0
            if done >= answered:
                break
        if p.poll() is None:  # enough answers, or 600 s without them: stop it as Ctrl-C would
            p.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        srv.terminate()
        srv.wait()
    print(f"{n:,}-prompt file: first answer stored after {first if first is not None else float('nan'):.1f} s, "
          f"stopped after {done:,} answers, peak RSS {ru.ru_maxrss / 1024:.0f} MiB "
          f"(exit {os.waitstatus_to_exitcode(status)}; 130 = stopped by Ctrl-C as intended)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=int, metavar="N", help="time a real CLI run of N samples instead")
    ap.add_argument("--stream", type=int, metavar="N", help="start and stop a run over an N-prompt file")
    ap.add_argument("--n", type=int, default=1_000_000, help="samples in the synthetic store")
    ap.add_argument("--keep", help="run dir to build/keep (default: a temp dir, removed)")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing store in --keep")
    ap.add_argument("--workers", type=int,
                    help="processes reading the store: 1 = this one alone, 2 = a helper reads the last 40%% of "
                         "the rows (default: babelsafe's choice: 2 from 50k generations when a core is idle)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.workers)
        return
    if a.run or a.stream:
        with tempfile.TemporaryDirectory(prefix="babelsafe-bench-") as d:
            if a.run:
                real_run(a.run, Path(d) / "r")
            if a.stream:
                stream_check(a.stream, Path(d) / "s")
        return
    tmp = None
    if a.keep:
        run = Path(a.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="babelsafe-bench-")
        run = Path(tmp.name)
    db = run / "results.sqlite"
    if not (a.reuse and db.exists()):
        t = time.perf_counter()
        build_store(db, a.n)
        print(f"built synthetic store: {a.n:,} samples, {db.stat().st_size / 2**20:.0f} MiB "
              f"in {time.perf_counter() - t:.1f} s")
    base = _baseline(db)
    cmd = [sys.executable, __file__, "--child", str(run)] + (["--workers", str(a.workers)] if a.workers else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(out.returncode)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    phases = [ln for ln in out.stderr.splitlines() if ln.startswith("report written")]
    sizes = {p.name: p.stat().st_size for p in run.iterdir() if p.name.startswith(("report", "results.", "summary"))}
    print(f"baseline (SELECT count(*) over the 4-table join): {base:.2f} s")
    for ln in phases:
        print(ln)
    print(f"end of run (summary, report, CSV, Parquet): {res['total_s']:.2f} s wall   "
          f"ratio vs baseline: {res['total_s'] / base:.1f}x")
    print(f"peak RSS: {res['peak_rss_mib']:.0f} MiB (+ export helper {res['helper_peak_rss_mib']:.0f} MiB)   "
          f"CPU time: {res['cpu_s']:.1f} s   "
          f"(goal: <= 30 s and <= 1024 MiB; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print("outputs: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(sizes.items())))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
