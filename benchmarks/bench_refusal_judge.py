"""Throughput of the multilingual refusal judge on one core, against XSTest's English string match.

    python benchmarks/bench_refusal_judge.py [--n 20000] [--real | --labels FILE] [--pure | --both]

The corpus is the labelled examples (17 languages, refusals, long compliant answers, loops, code, other
languages; written by babelsafe's authors, mean ~150 characters) repeated to N responses with a varying
suffix. `--real` takes real answers instead: the 900 XSTest v2 completions of
../shared/datasets/refusal_dev_xstest plus their 18-language translations in tests/data/judge_parity
(900 + 19 x 305 = 6,695 answers, mean ~280 characters), repeated the same way: the speed a user meets. The baseline is XSTest's
`classify_completions_strmatch` rule (lower-cased prefix test) run over the same corpus in the same
process. Prints responses/s for each and the ratio, and which path the judge runs (the compiled
accelerator or pure Python, babelsafe/_accel.py; the C text scans or their Python versions,
babelsafe/judges/textscan.py). `--pure` forces pure Python; `--both` runs the
benchmark twice, compiled then pure (each in its own process: the two share module names), and prints
the speed-up. Goal: >= 20,000 responses/s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def corpus(labels: Path | None, n: int) -> list[tuple[str, str, str]]:
    rows = real_rows() if labels is None else [json.loads(line) for line in labels.open(encoding="utf-8") if line.strip()]
    out = []
    i = 0
    while len(out) < n:
        r = rows[i % len(rows)]
        suffix = f" ({i})" if r["label"] != "invalid" else ""
        out.append((r["response"] + suffix, r["prompt"], r["language"]))
        i += 1
    return out


REAL_XSTEST = ROOT.parent / "shared/datasets/refusal_dev_xstest/responses.jsonl"
REAL_PARITY = ROOT / "tests/data/judge_parity"


def real_rows() -> list[dict]:
    """The real answers: XSTest dev-set completions and the parity set's translations (all splits:
    speed tunes no verdict)."""
    if not REAL_XSTEST.exists():
        sys.exit(f"--real needs {REAL_XSTEST} (the shared dev set beside the repo); without it, drop --real")
    files = [REAL_XSTEST] + sorted(REAL_PARITY.glob("*.jsonl"))
    rows = [json.loads(line) for f in files for line in f.open(encoding="utf-8") if line.strip()]
    return [dict(r, language=r.get("language", "en")) for r in rows]


def bench(fn, items, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for resp, prompt, lang in items:
            fn(resp, prompt, lang)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--labels", type=Path, default=ROOT / "tests/data/judge_labels.jsonl")
    ap.add_argument("--real", action="store_true", help="real answers (XSTest dev set + parity translations)")
    ap.add_argument("--pure", action="store_true", help="force the pure-Python judge (BABELSAFE_PURE_PYTHON=1)")
    ap.add_argument("--both", action="store_true", help="compiled, then pure Python; print the speed-up")
    args = ap.parse_args()
    if args.both:
        return both(args)
    if args.pure:
        os.environ["BABELSAFE_PURE_PYTHON"] = "1"  # read when babelsafe is first imported, below
    from babelsafe import _accel
    from babelsafe.judges.refusal import RefusalJudge, xstest_strmatch  # the baseline: XSTest's prefix match

    items = corpus(None if args.real else args.labels, args.n)
    judge = RefusalJudge()
    judge.classify(*items[0])  # build lexicons / tables once (counted separately)
    t0 = time.perf_counter()
    for it in items[:200]:
        judge.classify(*it)
    warm = time.perf_counter() - t0
    base = bench(lambda r, p, l: xstest_strmatch(r), items)
    full = bench(judge.classify, items)
    nolang = bench(RefusalJudge(check_language=False).classify, items)
    # the unrelated-output check (judges/relevance.py), on vs off in the same process: CPU time per answer
    # and the near-echo check (answer_text.near_echo), likewise
    plain = RefusalJudge(unrelated=False)
    exact = RefusalJudge(near_echo=False)
    ungarbled = RefusalJudge(garble=False)  # and the garbled-text check (judges/garble.py)
    cpu = {}
    for _ in range(3):
        for name, j in (("on", judge), ("off", plain), ("exact", exact), ("garble_off", ungarbled)):
            t0 = time.process_time()
            for it in items:
                j.classify(*it)
            cpu[name] = min(cpu.get(name, float("inf")), (time.process_time() - t0) / len(items) * 1e6)
    chars = sum(len(r) for r, _, _ in items) / len(items)
    from babelsafe.judges import textscan

    print(f"refusal judge path: {_accel.status()}; text scans: {textscan.STATUS}")
    print(f"corpus ({'real answers' if args.real else 'our examples'}): {len(items)} responses, mean {chars:.0f} chars, {len({l for _, _, l in items})} languages "
          f"(warm-up of 200: {warm * 1000:.1f} ms)")
    print(f"baseline XSTest English string match : {base:12,.0f} responses/s")
    print(f"refusal judge (language check on)    : {full:12,.0f} responses/s   ratio vs baseline {full / base:.3f}")
    print(f"refusal judge (language check off)   : {nolang:12,.0f} responses/s   ratio vs baseline {nolang / base:.3f}")
    print(f"unrelated-output check: {cpu['on']:.1f} us/answer on vs {cpu['off']:.1f} off (CPU, best of 3): "
          f"{cpu['on'] - cpu['off']:+.1f} us/answer")
    print(f"near-echo check: {cpu['on']:.1f} us/answer on vs {cpu['exact']:.1f} off (CPU, best of 3): "
          f"{cpu['on'] - cpu['exact']:+.1f} us/answer")
    print(f"garbled-text check: {cpu['on']:.1f} us/answer on vs {cpu['garble_off']:.1f} off (CPU, best of 3): "
          f"{cpu['on'] - cpu['garble_off']:+.1f} us/answer")
    print(f"goal >= 20,000 responses/s: {'met' if full >= 20000 else 'NOT met'}")


def both(args: argparse.Namespace) -> None:
    """This benchmark compiled, then pure Python, each in a fresh process; the speed-up of the judge."""
    rates, cpus = [], []
    for pure in (False, True):
        cmd = [sys.executable, __file__, "--n", str(args.n), "--labels", str(args.labels)] + (["--pure"] if pure else [])
        cmd += ["--real"] if args.real else []
        env = {k: v for k, v in os.environ.items() if k != "BABELSAFE_PURE_PYTHON"}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        print(out, end="")
        rates.append(float(re.search(r"language check on\)\s*:\s*([\d,]+)", out).group(1).replace(",", "")))
        cpus.append(float(re.search(r"unrelated-output check: ([\d.]+) us/answer on", out).group(1)))
    # CPU time is the fairer figure on a shared machine (wall clock counts other processes' turns)
    print(f"speed-up of the current path over pure Python: {cpus[1] / cpus[0]:.2f}x CPU per answer "
          f"({cpus[0]:.1f} vs {cpus[1]:.1f} us), {rates[0] / rates[1]:.2f}x wall-clock responses/s")


if __name__ == "__main__":
    main()
