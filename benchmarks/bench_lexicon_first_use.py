"""The refusal judge's first use of its lexicons: CPU of a first pass over the real answers minus a second.

    python benchmarks/bench_lexicon_first_use.py                          # this tree, 3 fresh processes
    python benchmarks/bench_lexicon_first_use.py --baseline-src DIR/src   # + another tree, alternated

Each process judges the 6,695 real answers of bench_refusal_judge.py --real twice with one RefusalJudge:
the first pass builds the lexicon groups the answers meet (indexes, trigger tries) and compiles the
patterns met; the second pass is the steady judge. first use = pass 1 - pass 2 (process CPU time). Each
process also prints a hash of its verdicts (label, score, rationale, extra): the trees must agree.
The machine may be shared: compare figures from the same run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from bench_refusal_judge import real_rows
rows = real_rows()
from babelsafe import _accel
from babelsafe.judges.refusal import RefusalJudge
judge = RefusalJudge()
T = time.process_time
t0 = T()
verdicts = [judge.classify(r["response"], r.get("prompt", ""), r["language"]) for r in rows]
t1 = T()
for r in rows:
    judge.classify(r["response"], r.get("prompt", ""), r["language"])
t2 = T()
h = hashlib.sha256()
for v in verdicts:
    h.update(json.dumps([v.label, v.score, v.rationale, v.extra], sort_keys=True, default=str,
                        ensure_ascii=False).encode())
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {h.hexdigest()[:16]} {_accel.status()}")
"""


def once(src: Path, pure: bool) -> tuple[float, float, str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    if pure:
        env["BABELSAFE_PURE_PYTHON"] = "1"
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "benchmarks")], env=env, capture_output=True,
                         text=True, check=True).stdout.split(maxsplit=3)
    return float(out[0]), float(out[1]), out[2], out[3].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", type=Path, help="another tree's src (with its compiled modules, if any)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pure", action="store_true", help="BABELSAFE_PURE_PYTHON=1 in every process")
    args = ap.parse_args()
    trees = ([("baseline", args.baseline_src)] if args.baseline_src else []) + [("this", ROOT / "src")]
    got: dict[str, list[tuple[float, float, str, str]]] = {name: [] for name, _ in trees}
    for _ in range(args.repeats):
        for name, src in trees:  # alternated: both trees see the same load
            got[name].append(once(src, args.pure))
    for name, runs in got.items():
        first = min(a - b for a, b, _, _ in runs)
        print(f"{name:8} first use {first:.3f} s CPU (best of {len(runs)}; all: "
              f"{', '.join(f'{a - b:.3f}' for a, b, _, _ in runs)}), pass 1 {min(a for a, *_ in runs):.3f} s,"
              f" pass 2 {min(b for _, b, *_ in runs):.3f} s; verdicts {runs[0][2]}; {runs[0][3]}")
    hashes = {r[2] for runs in got.values() for r in runs}
    print("verdicts identical across trees and runs" if len(hashes) == 1 else f"VERDICTS DIFFER: {sorted(hashes)}")


if __name__ == "__main__":
    main()
