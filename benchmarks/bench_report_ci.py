"""Benchmark: the bootstrap CIs of `babelsafe report` as a user meets them, on a real cross-lingual run.

    python benchmarks/bench_report_ci.py                         # build (or reuse) the run, time report
    python benchmarks/bench_report_ci.py --baseline-src /tmp/main/src   # + the same command on another tree
    python benchmarks/bench_report_ci.py --items 400 --keep /tmp/xling_run   # keep / reuse the run dir
    python benchmarks/bench_report_ci.py --run     # + `babelsafe run` again into the run (all cached)

The product bootstraps in two places: `calibrate` (metrics.stats.bootstrap_agreement) and the `xling`
panel (mean chrF and self-consistency chrF per target x language, 1,000 resamples each), which
`babelsafe report`, `babelsafe compare`'s reports and the summary `babelsafe run` writes compute for a run
of the cross-lingual consistency task. This builds such a run with the real code path: `babelsafe.run`
over ITEMS mild questions x 12 languages (self-consistency samples=2, verifiability on, chrF basis)
against the loopback OpenAI-compatible server of tests/fake_openai.py (0 latency), whose target answers
each question with a sentence that shares part of its words with the English answer (so chrF spreads)
and whose translator returns the English words. Then:

1. `babelsafe report RUN` as a subprocess (fresh interpreter, compiled accelerator if built), best of 3
   CPU seconds (user + sys of the child; wall time on a shared machine counts other people's load);
   with --baseline-src the other tree's command runs interleaved, and the two summary.json files are
   compared line for line (all but generated_at and compute_s). --run: the same for `babelsafe run` of
   the run's spec again (a rerun or resume: every call and verdict cached; its end writes the summary).
2. In this process: where the report's CPU goes (api.report, named steps timed), and the
   xling panel alone with the bootstrap as it was (stats.bootstrap_means_reference: one randrange call
   per resampled item) and as it is, values checked equal, printed as the ratio new/old.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["en", "es", "fr", "de", "zh", "hi", "ar", "ru", "ja", "ko", "sw", "bn"]
WORDS = ("water bread sleep walk garden river morning light window music paper letter table chair "
         "tea rice apple green blue quiet warm cold early late small large city village road bridge "
         "school book friend family kitchen market summer winter rain cloud mountain field").split()


def _words(*key: object, n: int = 14) -> list[str]:
    rnd = random.Random(hashlib.sha256(repr(key).encode()).digest())
    return [rnd.choice(WORDS) for _ in range(n)]


def english_answer(item: int, seed: int = 0) -> str:
    """The English words of an answer: the item's base words, a few changed per sampled seed."""
    base = _words("item", item)
    rnd = random.Random(f"{item}:{seed}")
    if seed:
        for _ in range(3):
            base[rnd.randrange(len(base))] = rnd.choice(WORDS)
    return " ".join(base).capitalize() + "."


def answer_words(item: int, lang: str, seed: int) -> str:
    """The English words an answer in `lang` stands for: a language-dependent share of them differ."""
    words = english_answer(item, seed).rstrip(".").split()
    share = (LANGS.index(lang) % 6) / 10  # 0 .. 0.5 of the words changed
    rnd = random.Random(f"{item}:{lang}:{seed}")
    for i in range(len(words)):
        if rnd.random() < share:
            words[i] = rnd.choice(WORDS)
    return " ".join(words) + "."


def write_questions(path: Path, items: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(items):
            topic = " ".join(_words("q", i, n=3))
            for lang in LANGS:
                q = f"[{lang}] Question {i}: what is a good way to enjoy {topic}?"
                f.write(json.dumps({"id": f"q{i:05d}", "language": lang, "question": q,
                                    "answer": f"[{lang}] {english_answer(i)}"}, ensure_ascii=False) + "\n")


def responder(body: dict) -> str:
    """target `m`: the answer (in the question's language: tagged); `tr`: the tagged text's English words;
    Yes/No to verifiability questions by a hash of the pair."""
    last = body["messages"][-1]["content"]
    if body["model"] == "tr":
        text = last.split("\n\n", 1)[1] if "\n\n" in last else last
        return text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text
    if last.startswith("Question: "):
        return "Yes." if hashlib.sha256(last.encode()).digest()[0] % 4 else "No"
    lang, rest = last[1:].split("] ", 1)
    item = int(rest.split(":", 1)[0].split()[1])
    seed = int(body.get("seed") or 0)
    if lang == "en" and not seed:
        return english_answer(item)
    return f"[{lang}] " + answer_words(item, lang, seed)


def build(run_dir: Path, items: int) -> float:
    """`babelsafe.run` of the consistency task over `items` x LANGS against the loopback server."""
    sys.path.insert(0, str(ROOT / "tests"))
    import babelsafe
    from babelsafe.spec import load_spec
    from fake_openai import FakeOpenAI

    run_dir.parent.mkdir(parents=True, exist_ok=True)
    data = run_dir.parent / f"{run_dir.name}-questions.jsonl"
    write_questions(data, items)
    srv = FakeOpenAI().start()
    srv.keep_bodies = False
    srv.responder = responder
    os.environ.setdefault("BABELSAFE_BENCH_KEY", "sk-bench")

    def t(model: str) -> dict:
        return {"type": "openai", "model": model, "base_url": srv.base_url, "api_key_env": "BABELSAFE_BENCH_KEY"}

    spec = load_spec(None, datasets=[{"name": "consistency", "options": {"path": str(data), "samples": 2}}],
                     languages=LANGS, judges=[{"name": "consistency", "options": {"translator": t("tr")}}],
                     out=str(run_dir), targets=[t("m")], concurrency=32)
    t0 = time.perf_counter()
    try:
        babelsafe.run(spec)
    finally:
        srv.stop()
    return time.perf_counter() - t0


# when the summary was made and how long it took; when a rerun started, ended, stored its (cached) answers
VOLATILE = ("generated_at", "compute_s", "started", "finished", "first_generation", "last_generation")


def same_summary(a: Path, b: Path) -> bool:
    """Are two summary.json files the same text once the volatile keys' lines are left out?"""
    def lines(p: Path) -> list[str]:
        return [line for line in p.read_text(encoding="utf-8").splitlines()
                if not any(line.lstrip().startswith(f'"{k}":') for k in VOLATILE)]
    return lines(a) == lines(b)


def child_env(src: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("BABELSAFE_PURE_PYTHON", None)
    return env


def timed_cli(src: Path, args: list[str]) -> tuple[float, float]:
    """(CPU s of the child, wall s) of `babelsafe ARGS` with `src` first on the path."""
    code = "import sys; from babelsafe.cli.app import main; sys.argv = ['babelsafe', *sys.argv[1:]]; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], env=child_env(src), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def serve_spec_port(run_dir: Path):
    """The loopback server again, on the port the run's spec.yaml names (a rerun checks its target)."""
    import re

    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI

    port = int(re.search(r"base_url: http://127\.0\.0\.1:(\d+)/", (run_dir / "spec.yaml").read_text()).group(1))
    srv = FakeOpenAI(port=port).start()
    srv.keep_bodies = False
    srv.responder = responder
    os.environ.setdefault("BABELSAFE_BENCH_KEY", "sk-bench")
    return srv


PHASES = [("babelsafe.metrics.xling", None, "bootstrap_means", "the xling CIs' bootstrap (stats.bootstrap_means)"),
          ("babelsafe.metrics.xling", None, "xling_tables", "the xling panel (with its bootstrap)"),
          ("babelsafe.metrics.summary", None, "run_metadata", "run metadata (components, scrubbed)"),
          ("babelsafe.reporting.html", None, "write_summary", "summary.json written (json indent=2)"),
          ("babelsafe.reporting.html", None, "render_html", "report.html rendered")]


def phases(run_dir: Path, reps: int) -> None:
    """Where `api.report`'s CPU goes: the whole call and named steps (CPU seconds, best of `reps`, in this
    process after a first call; phase_timer.PhaseTimer)."""
    import babelsafe
    from phase_timer import PhaseTimer

    with PhaseTimer(PHASES) as timer:
        babelsafe.report(run_dir)
        best = timer.best_of(reps, lambda: babelsafe.report(run_dir))
    print(f"\n## where api.report's CPU goes (this tree, in process, best of {reps}):")
    print(f"  {best['total']:.3f} s  the whole call (summary + exports + report.html; no start-up, no imports)")
    for *_, what in PHASES:
        print(f"  {best.get(what, 0.0):.3f} s  {what}")


def panel_alone(run_dir: Path, reps: int = 3) -> None:
    """The xling panel alone: the bootstrap as it was (the reference) vs as it is; values compared."""
    from babelsafe.metrics import stats, xling
    from babelsafe.results.readers import RunReader

    with RunReader(run_dir / "results.sqlite") as r:
        rows = r.xling_rows()
    cells = sum(1 for _ in {(x.target, x.language) for x in rows}) + 1
    best: dict[str, float] = {}
    out: dict[str, object] = {}
    for _ in range(reps):
        for name, fn in (("old", stats.bootstrap_means_reference), ("new", stats.bootstrap_means)):
            xling.bootstrap_means = fn  # (the name the panel calls)
            try:
                t0 = time.process_time()
                out[name] = xling.xling_tables(rows)
                best[name] = min(best.get(name, 1e9), time.process_time() - t0)
            finally:
                xling.bootstrap_means = stats.bootstrap_means
    same = json.dumps(out["old"], sort_keys=True) == json.dumps(out["new"], sort_keys=True)
    print(f"\n## xling panel alone ({len(rows):,} answers, {cells} cells x 2 bootstraps of {xling.BOOTSTRAP}"
          f" resamples), best of {reps}, CPU:")
    print(f"  old (randrange per item) {best['old']:.3f} s | new {best['new']:.3f} s | "
          f"new/old {best['new'] / best['old']:.3f} (x{best['old'] / best['new']:.1f}) | tables identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=400, help="questions (x 12 languages)")
    ap.add_argument("--keep", type=Path, help="build the run here (reused when it exists)")
    ap.add_argument("--baseline-src", type=Path, help="another tree's src (e.g. main's) run interleaved")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--run", action="store_true", help="also time `babelsafe run` again into the run (all cached)")
    ap.add_argument("--no-phases", action="store_true", help="skip the in-process breakdown")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_ci_"))
    run_dir = a.keep.resolve() if a.keep else tmp / "run"
    try:
        if not (run_dir / "results.sqlite").exists():
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            wall = build(run_dir, a.items)
            print(f"built {run_dir}: {a.items} items x {len(LANGS)} languages in {wall:.0f} s (babelsafe.run)")
        import sqlite3

        con = sqlite3.connect(str(run_dir / "results.sqlite"))
        n = con.execute("SELECT count(*) FROM generations").fetchone()[0]
        calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
        con.close()
        print(f"run: {n:,} answers, {calls:,} stored calls, {len(LANGS)} languages")
        trees = {"this": ROOT / "src"}
        if a.baseline_src:
            trees = {"baseline": a.baseline_src.resolve(), **trees}
        commands = {"report": ["report", str(run_dir)]}
        srv = None
        if a.run:
            srv = serve_spec_port(run_dir)
            commands["run"] = ["run", str(run_dir / "spec.yaml")]
        try:
            for cmd, args in commands.items():
                best: dict[str, tuple[float, float]] = {}
                summaries: dict[str, Path] = {}
                for _ in range(a.reps):
                    for name, src in trees.items():
                        cpu, wall = timed_cli(src, args)
                        old = best.get(name, (1e9, 1e9))
                        best[name] = (min(old[0], cpu), min(old[1], wall))
                        summaries[name] = tmp / f"summary-{name}.json"
                        shutil.copy(run_dir / "summary.json", summaries[name])
                what = ("`babelsafe report RUN`" if cmd == "report" else
                        "`babelsafe run RUN/spec.yaml` again (every answer and verdict cached: start, resume, the "
                        "end-of-run summary + report)")
                print(f"\n## {what} (subprocess), best of {a.reps}:")
                for name, (cpu, wall) in best.items():
                    print(f"  {name:9s} {cpu:6.2f} s CPU  {wall:6.2f} s wall  ({trees[name]})")
                if a.baseline_src:
                    same = same_summary(summaries["baseline"], summaries["this"])
                    print(f"  this/baseline CPU {best['this'][0] / best['baseline'][0]:.3f} "
                          f"(x{best['baseline'][0] / best['this'][0]:.2f}); summary.json identical "
                          f"(but {', '.join(VOLATILE)}): {same}")
        finally:
            if srv is not None:
                srv.stop()
        sys.path.insert(0, str(ROOT / "src"))
        if not a.no_phases:
            phases(run_dir, a.reps)
        panel_alone(run_dir, a.reps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
