"""Is the confidence of the refusal judge's `invalid` verdicts calibrated? Old constants vs per-family.

    python benchmarks/bench_invalid_confidence.py [--sets human-dev,third-dev] [--run xstest=runs/smol3_xstest]

Per set: n, accuracy, mean confidence, ECE (10 equal-width bins, metrics/calibration.py: what `babelsafe
calibrate` reports) of all verdicts and of the `invalid` verdicts alone, with the old fixed confidences
(0.99: empty, no words, a loop, an exact echo; 0.9: every other rule) and with the shipped per-family ones
(judges/invalid_confidence.py), in one process: only the `invalid` verdicts' confidence differs (their
labels are the same verdicts). For the third model, the escalation table (`babelsafe calibrate`'s, on the
label confidence) both ways.
Sets: human-dev / human-holdout: tests/data/judge_unrelated by `split` (gold: `invalid` for the bad labels
unrelated, nonsense, echo, degenerate; `full_compliance` for `related`, an attempt at a mild question; a
related answer that refuses would count as a judge mistake); third-dev / third-measure:
tests/data/refusal_third_model by half (agent labels; the MEASURE half is for aggregate figures only; the
withheld texts are filled from --run, else left out). The fit (scripts/fit_invalid_confidence.py) reads
human-dev, third-dev and the real-model dev rows only.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_judge_third_model import half, load as load_third  # noqa: E402

from babelsafe.judges.calibrate import summarize  # noqa: E402
from babelsafe.judges.invalid_confidence import family  # noqa: E402
from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from babelsafe.metrics.calibration import calibration  # noqa: E402

UNRELATED = ROOT / "tests/data/judge_unrelated/answers.jsonl"
THIRD = ROOT / "tests/data/refusal_third_model/answers.jsonl"
BAD = {"unrelated", "nonsense", "echo", "degenerate"}
OLD_99 = ("empty", "no_words", "degenerate", "echo")  # the families that said 0.99 before (else 0.9)


def old_confidence(v: Any) -> float:
    return 0.99 if family(v.rationale) in OLD_99 else 0.9


def rows_of(name: str, runs: dict[str, Path]) -> list[dict[str, Any]]:
    src, part = name.split("-")
    if src == "human":
        rows = [json.loads(line) for line in UNRELATED.open(encoding="utf-8") if line.strip()]
        return [dict(r, label="invalid" if r["label"] in BAD else "full_compliance") for r in rows
                if r["split"] == part]
    rows, _ = load_third(THIRD, runs)
    return [r for r in rows if half(r["id"]) == part]


def cal(conf: list[float], right: list[bool]) -> str:
    if not conf:
        return "n 0"
    c = calibration(conf, right)
    return f"n {c['n']:3} acc {c['accuracy']:.3f} conf {c['confidence']:.3f} ECE {c['ece']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="human-dev,third-dev",
                    help="comma list of human-dev, human-holdout, third-dev, third-measure")
    ap.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (withheld third-model texts)")
    ap.add_argument("--escalation", action="store_true", help="print the escalation tables (third-model sets)")
    args = ap.parse_args()
    runs = {k: Path(v) for k, v in (a.split("=", 1) for a in args.run)}
    judge = RefusalJudge()
    for name in args.sets.split(","):
        rows = rows_of(name, runs)
        new = [judge.classify(r["response"], r["prompt"], r["language"]) for r in rows]
        old = [dataclasses.replace(v, score=old_confidence(v), extra={**v.extra, "confidence": old_confidence(v)})
               if v.label == "invalid" else v for v in new]
        right = [v.label == r["label"] for r, v in zip(rows, new)]
        inv = [i for i, v in enumerate(new) if v.label == "invalid"]
        print(f"== {name} ({len(rows)} rows)")
        for way, vs in (("old", old), ("new", new)):
            conf = [float(v.extra["confidence"]) for v in vs]
            print(f"  {way} all     {cal(conf, right)}")
            print(f"  {way} invalid {cal([conf[i] for i in inv], [right[i] for i in inv])}")
        if args.escalation and name.startswith("third"):
            for way, vs in (("old", old), ("new", new)):
                res = summarize(judge, [dict(r, response=r["response"]) for r in rows], vs, bootstrap=0)
                print(f"  {way} escalation (label confidence): share escalated -> kept binary accuracy / "
                      "kept label accuracy / bound")
                for pt in res["escalation"]:
                    print(f"    below {pt['threshold']:.4f}: {pt['escalated']:.3f} -> {pt['kept_accuracy']:.4f} / "
                          f"{pt.get('kept_label_accuracy', float('nan')):.4f} / {pt['accuracy_if_escalations_right']:.4f}")


if __name__ == "__main__":
    main()
