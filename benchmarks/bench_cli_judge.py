"""The refusal judge as a user meets it: the CLI end to end on real answers, marginal method.

    python benchmarks/bench_cli_judge.py                          # calibrate, 1,000 vs 6,695 answers, 3 repeats
    python benchmarks/bench_cli_judge.py --baseline-src /tmp/main/src   # + the same runs on another tree
    python benchmarks/bench_cli_judge.py --run                    # + `babelsafe run` against a loopback server
    python benchmarks/bench_cli_judge.py --n1 2000 --n2 6695 --repeats 5 --judges refusal,xstest-strmatch

The answers are the real ones of bench_refusal_judge.py --real: the 900 XSTest v2 completions of
../shared/datasets/refusal_dev_xstest plus their translations in tests/data/judge_parity (6,695, all splits:
speed only, no verdict is printed or looked at), shuffled with a fixed seed so that every size holds the
same mix of languages. For each repeat, tree and judge, in interleaved order:

- calibrate: `babelsafe calibrate --judge J FILE --json OUT` as a user types it (the console script of this
  Python, PYTHONPATH = the tree's src), once with N1 and once with N2 labelled answers (default bootstrap);
- run (--run): `babelsafe run -d FILE --target openai --base-url URL --judge J --out DIR` against the
  loopback OpenAI-compatible server of tests/fake_openai.py (0 latency) answering each prompt with its
  real answer (one answer per distinct prompt: at most 4,715), N1 and N2 prompts, a fresh run dir each.

Wall time and user+sys CPU come from wait4 for each process (byte-code caching on, as for an installed
package; one warm-up command per tree first). Marginal figures remove start-up and the fixed
end-of-command work: (t(N2) - t(N1)) / (N2 - N1); start-up is t(N1) - N1 x the marginal time per answer
(the intercept), beside `babelsafe --help`. CPU is the steadier figure on a shared machine (wall also
counts the time other processes hold the cores). The trivial string match (`xstest-strmatch`) in the
same run is the baseline: what everything but the judge costs. `--baseline-src` runs a second tree (e.g.
main's src with its compiled .so files) interleaved with this one, prints baseline/this ratios and
whether the two trees' outputs (the calibrate table and JSON of the N2 file) are byte-identical. Printed
last, per tree: the judge alone (`classify` in a loop, best of 3 passes over the N2 answers, the figure
bench_refusal_judge.py gives) and where calibrate's CPU goes, step by step in one process (imports,
reading the file, judging: the lexicons' first use + the judge's steady speed, summary, tables).
Note: the judge compiles a lexicon pattern on the first answer holding its trigger, so part of that
first-use cost grows with N (more answers, more patterns met) and shows in the marginal figure.
The machine may be shared: compare ratios measured in the same run, not absolute figures across runs.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_refusal_judge import real_rows  # noqa: E402


def cli() -> list[str]:
    """The `babelsafe` console script beside this Python (what a user types), else `python -m babelsafe`."""
    script = Path(sys.executable).parent / "babelsafe"
    return [str(script)] if script.exists() else [sys.executable, "-m", "babelsafe"]


def timed(cmd: list[str], src: Path, stdout: Path | None = None) -> tuple[float, float]:
    """(wall seconds, user+sys CPU seconds) of cmd run to completion with PYTHONPATH=src."""
    env = child_env(src, COLUMNS="100")
    with open(stdout or os.devnull, "wb") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime


def child_env(src: Path, **extra: str) -> dict[str, str]:
    """The environment of a measured command: PYTHONPATH = the tree's src, and byte-code caching on
    (an installed package has its .pyc files; without them every start compiles ~60 modules)."""
    env = dict(os.environ, PYTHONPATH=str(src), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


JUDGE_ALONE = """
import io, sys, time
T = time.process_time
t0 = T()
import babelsafe.cli
from babelsafe import _accel
from babelsafe.cli import render
from babelsafe.judges import calibrate as cal
t1 = T()
rows = cal.load_labels(sys.argv[1])
t2 = T()
judge = cal.build_judge("refusal")
verdicts = [judge.classify(r["response"], r["prompt"], r["language"]) for r in rows]
t3 = T()
steady = float("inf")
for _ in range(3):
    c0 = T()
    for r in rows:
        judge.classify(r["response"], r["prompt"], r["language"])
    steady = min(steady, T() - c0)
t4 = T()
result = cal.summarize(judge, rows, verdicts, labels_path=sys.argv[1])
t5 = T()
from rich.console import Console
con = Console(file=io.StringIO(), width=100)
for table in (render.calibration(con, result), render.confusion(con, result), render.escalation(con, result)):
    con.print(table)
t6 = T()
n = len(rows)
print(f"judge alone {n / steady:,.0f} answers/s ({1e6 * steady / n:.1f} us CPU/answer, {_accel.status()});"
      f" calibrate's CPU in one process: imports {t1 - t0:.2f} s, reading {t2 - t1:.2f} s, judging {t3 - t2:.2f} s"
      f" (first use of the lexicons {t3 - t2 - steady:.2f} s + {steady:.2f} s), summary {t5 - t4:.2f} s,"
      f" tables {t6 - t5:.2f} s")
"""


def judge_alone(src: Path, labels: Path) -> str:
    return subprocess.run([sys.executable, "-c", JUDGE_ALONE, str(labels)], env=child_env(src), capture_output=True,
                          text=True, check=True).stdout.strip()


def serve(answers: Path) -> None:
    """The loopback server answering each prompt with its real answer (`--serve`, run as a child)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI, serve_forever

    table = {r["prompt"]: r["response"] for r in map(json.loads, answers.open(encoding="utf-8"))}

    def responder(body: dict) -> str:
        last = next(m["content"] for m in reversed(body["messages"]) if m.get("role") == "user")
        return table.get(last, "")

    srv = FakeOpenAI()
    srv.latency = 0.0
    srv.responder = responder
    serve_forever(srv)


def report(title: str, n1: int, n2: int, times: dict, trees: list[str], judges: list[str]) -> None:
    """Per tree and judge: start-up (the intercept), total and marginal answers/s (wall), CPU per answer
    (marginal) and its answers/s, start-up CPU, the whole command's CPU at N2; each the best of the repeats. CPU is the steadier figure on a
    shared machine (wall also counts the time other people's processes hold the cores)."""
    print(f"\n{title}: N1={n1:,} N2={n2:,} answers; best of the repeats")
    print(f"{'tree':<9}{'judge':<16}{'start-up':>9}{'N2 total':>10}{'marginal':>10}{'CPU/answer':>11}"
          f"{'CPU':>9}{'start-up':>9}{'N2 CPU':>8}")
    print(f"{'':<25}{'wall s':>9}{'ans/s':>10}{'ans/s':>10}{'us':>11}{'ans/s':>9}{'CPU s':>9}{'s':>8}")
    marg: dict[tuple[str, str], float] = {}
    for tree in trees:
        for j in judges:
            w1, w2 = (min(t[0] for t in times[tree, j, n]) for n in (n1, n2))
            c1, c2 = (min(t[1] for t in times[tree, j, n]) for n in (n1, n2))
            per, cpu = (w2 - w1) / (n2 - n1), (c2 - c1) / (n2 - n1)
            marg[tree, j] = cpu
            print(f"{tree:<9}{j:<16}{w1 - n1 * per:>9.2f}{n2 / w2:>10,.0f}{f'{1 / per:,.0f}' if per > 0 else 'noise':>10}"
                  f"{1e6 * cpu:>11.1f}{1 / cpu if cpu > 0 else float('inf'):>9,.0f}{c1 - n1 * cpu:>9.2f}{c2:>8.2f}")
    for tree in trees:
        for j in judges[:-1]:
            print(f"  {tree}: {j} costs {1e6 * (marg[tree, j] - marg[tree, judges[-1]]):.1f} us CPU/answer more "
                  f"than {judges[-1]} (marginal)")
    if len(trees) == 2:
        for j in judges:
            print(f"  {j}: marginal CPU/answer, baseline/this x{marg[trees[0], j] / marg[trees[1], j]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n1", type=int, default=1000)
    ap.add_argument("--n2", type=int, default=6695)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--judges", default="refusal,xstest-strmatch", help="comma-separated; the last is the baseline")
    ap.add_argument("--baseline-src", type=Path, help="another tree's src (e.g. main's, with its .so files)")
    ap.add_argument("--run", action="store_true", help="also `babelsafe run` against the loopback server")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve)
    judges = a.judges.split(",")
    trees = {"baseline": a.baseline_src.resolve()} if a.baseline_src else {}
    trees["this"] = ROOT / "src"
    rows = real_rows()
    random.Random(0).shuffle(rows)
    a.n2 = min(a.n2, len(rows))
    tmp = Path(tempfile.mkdtemp(prefix="babelsafe-clijudge-"))
    try:
        for n in (a.n1, a.n2):
            write_jsonl(tmp / f"labels-{n}.jsonl", rows[:n])
        help_s = {t: min(timed(cli() + ["--help"], src)[0] for _ in range(3)) for t, src in trees.items()}
        print(f"{len(rows):,} real answers; {os.cpu_count()} CPUs; `babelsafe --help`: "
              + ", ".join(f"{t} {s:.2f} s" for t, s in help_s.items()))
        for src in trees.values():  # warm-up: .pyc files written, files in the page cache
            timed(cli() + ["calibrate", "--judge", judges[0], str(tmp / f"labels-{a.n1}.jsonl")], src)
        if not a.no_calibrate:
            times: dict = {}
            for rep in range(a.repeats):
                for n in (a.n1, a.n2):
                    for j in judges:
                        for t, src in trees.items():
                            stem = tmp / f"cal-{t}-{j}-{n}"
                            times.setdefault((t, j, n), []).append(timed(
                                cli() + ["calibrate", "--judge", j, str(tmp / f"labels-{n}.jsonl"),
                                         "--json", f"{stem}.json"], src, Path(f"{stem}.txt")))
            report("calibrate --judge J FILE --json OUT", a.n1, a.n2, times, list(trees), judges)
            if len(trees) == 2:
                for j in judges:
                    same = all(filecmp.cmp(tmp / f"cal-baseline-{j}-{a.n2}{ext}", tmp / f"cal-this-{j}-{a.n2}{ext}",
                                           shallow=False) for ext in (".txt", ".json"))
                    print(f"  {j}: table and JSON of the two trees {'byte-identical' if same else 'DIFFER'}")
        if a.run:
            seen: dict[str, dict] = {}
            for r in rows:
                seen.setdefault(r["prompt"], r)
            uniq = list(seen.values())
            n2 = min(a.n2, len(uniq))
            write_jsonl(tmp / "answers.jsonl", uniq)
            for n in (a.n1, n2):
                write_jsonl(tmp / f"prompts-{n}.jsonl", [{"id": f"r{i}", "language": r["language"],
                                                         "prompt": r["prompt"]} for i, r in enumerate(uniq[:n])])
            srv = subprocess.Popen([sys.executable, __file__, "--serve", str(tmp / "answers.jsonl")],
                                   stdout=subprocess.PIPE, text=True)
            url = srv.stdout.readline().strip() if srv.stdout else ""
            try:
                times = {}
                for rep in range(a.repeats):
                    for n in (a.n1, n2):
                        for j in judges:
                            for t, src in trees.items():
                                out = tmp / f"run-{t}-{j}-{n}-{rep}"
                                times.setdefault((t, j, n), []).append(timed(
                                    cli() + ["run", "-d", str(tmp / f"prompts-{n}.jsonl"), "--target", "openai",
                                             "--model", "fake-model", "--base-url", url, "--judge", j,
                                             "--out", str(out)], src))
                                shutil.rmtree(out, ignore_errors=True)
                report(f"run -d FILE --target openai (loopback, 0 latency) --judge J", a.n1, n2, times,
                       list(trees), judges)
            finally:
                srv.terminate()
                srv.wait()
        print(f"\nwhere calibrate's time goes (refusal, the N2 answers, CPU; the judge alone: best of 3 passes):")
        for t, src in trees.items():
            print(f"  {t}: {judge_alone(src, tmp / f'labels-{a.n2}.jsonl')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
