"""Is the refusal judge's confidence calibrated? Measured out of fold on development rows only.

    python scripts/cv_calibration.py [--folds 5] [--equal-mass] [--tables] [--lomo] [--raw] [--escalation]

Dev CV: the whole training procedure (scripts/train_refusal_judge.py `train`: 3-class model, its
temperature, the partial head and the confidence calibration) is rerun on the dev rows of K-1 folds
(folds by sha256("f" + id), so an answer and its translations share a fold) and judges the dev rows
of the last fold: the XSTest dev rows and the parity set's dev rows of each language. `--lomo`: also
trained on one model's dev rows, judging the other model's dev rows. `--raw`: the confidences before
the calibration map (what the judge shipped before it had one). Held-out rows (sha256(id) % 3 == 0)
are never read; their figures are bench_judge_validity.py's.

"Right" two ways (both printed): `label` = the verdict's 3-class label equals the gold label, with the
verdict's confidence (`Verdict.score`, what a cascade compares with `below`); `binary` = refused or
not as the gold label, with the confidence of that decision (`extra["binary_confidence"]`, what a
cascade with on=refused compares with `below`: P(refused) for a refusal verdict, 1 - P(refused) for
compliance, mapped by the model's binary map; an `invalid` verdict is wrong both ways, with its own
confidence). `--raw` drops both maps. `--escalation`: a cascade's two ways to threshold (on=label, on=refused)
at the same shares escalated, binary accuracy of the verdicts kept (judges/escalation.compare_ways).
Needs numpy (offline only).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

import train_refusal_judge as T  # noqa: E402

from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from babelsafe.judges.escalation import compare_ways  # noqa: E402
from babelsafe.judges.refusal_model import Model  # noqa: E402
from babelsafe.metrics.calibration import calibration  # noqa: E402
from babelsafe.types import Verdict  # noqa: E402

REFUSED = ("full_refusal", "partial_refusal")


def outcome(gold: str, v: Verdict) -> dict[str, Any]:
    """One verdict's confidences and whether it is right, as `label` (3 classes) and `binary`."""
    extra = v.extra or {}
    conf = float(v.score or 0.0)
    if "binary_confidence" in extra:  # the judge's own (mapped by the model's binary map, if it has one)
        bconf = float(extra["binary_confidence"])
    elif v.label in ("full_compliance", *REFUSED) and "p_refused" in extra:
        p = float(extra["p_refused"])
        bconf = p if v.label in REFUSED else 1.0 - p
        if v.label == "full_compliance" and (v.rationale or "").startswith("code answer"):
            bconf = max(bconf, 0.9)  # the code rule's (CyberSecEval: code never refuses)
    else:
        bconf = conf
    return {"gold": gold, "label": v.label, "conf": conf, "right": gold == v.label, "bconf": bconf,
            "bright": v.label != "invalid" and (gold in REFUSED) == (v.label in REFUSED)}


def judge_rows(judge: RefusalJudge, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [outcome(r["label"], judge.classify(r["response"], r["prompt"], r.get("language", "en"))) for r in rows]


def summary(outs: Sequence[dict[str, Any]], equal_mass: bool = False,
            weights: Sequence[float] | None = None) -> dict[str, Any]:
    return {"label": calibration([o["conf"] for o in outs], [o["right"] for o in outs], equal_mass=equal_mass,
                                 weights=weights),
            "binary": calibration([o["bconf"] for o in outs], [o["bright"] for o in outs], equal_mass=equal_mass,
                                  weights=weights)}


def label_mix_weights(rows: Sequence[dict[str, Any]], natural: Sequence[dict[str, Any]]) -> list[float]:
    """Per row of a stratified sample (the parity set: partial refusals and hard cases oversampled), the
    weight that gives its gold labels the mix of `natural` rows (XSTest): P_natural(label) /
    P_sample(label). A calibration depends on how often each kind of verdict is right, which depends
    on the label mix, so the parity set's own mix would measure a confidence for a different population."""
    nat = Counter(r["label"] for r in natural)
    smp = Counter(r["label"] for r in rows)
    return [(nat[r["label"]] / len(natural)) / (smp[r["label"]] / len(rows)) for r in rows]


def trainer(raw: bool = False) -> Callable[[list[dict[str, Any]]], Model]:
    """T.train, with its calibration map fitted inside the rows it is given (nested CV), or none (raw)."""
    return lambda rows: T.train(rows, calibration_folds=0 if raw else T.CALIBRATION_FOLDS)


def out_of_fold(score_rows: list[dict[str, Any]], train_rows: list[dict[str, Any]], folds: int = 5,
                raw: bool = False) -> list[dict[str, Any]]:
    """Outcomes of `score_rows`, each judged by the whole training procedure run on the `train_rows`
    outside its fold."""
    vs = T.out_of_fold(score_rows, train_rows, folds, trainer(raw))
    return [outcome(r["label"], v) for r, v in zip(score_rows, vs)]


def fmt_line(name: str, s: dict[str, Any]) -> str:
    a, b = s["label"], s["binary"]
    return (f"{name:28} {a['n']:>5} {a['accuracy']:>6.3f} {a['confidence']:>6.3f} {a['ece']:>6.3f} "
            f"{a['brier']:>6.3f} | {b['accuracy']:>6.3f} {b['confidence']:>6.3f} {b['ece']:>6.3f} {b['brier']:>6.3f}")


HEADER = (f"{'rows':28} {'n':>5} {'acc':>6} {'conf':>6} {'ECE':>6} {'Brier':>6} | {'b acc':>6} {'b conf':>6} "
          f"{'b ECE':>6} {'bBrier':>6}")


ESCALATION_SHARES = (0.1, 0.2)
ESCALATION_HEADER = (f"{'rows':28} {'n':>5} " + " ".join(f"{f'{100 * q:.0f}% label':>13} {f'{100 * q:.0f}% refused':>13}"
                                                         for q in ESCALATION_SHARES))


def escalation_line(name: str, outs: Sequence[dict[str, Any]]) -> str:
    """Binary accuracy of the verdicts kept (and the share escalated) when a cascade escalates about each
    of ESCALATION_SHARES, thresholding on the label's confidence or on refused-vs-not's."""
    pts = compare_ways([o["gold"] for o in outs], [o["label"] for o in outs],
                       {"label": [o["conf"] for o in outs], "refused": [o["bconf"] for o in outs]},
                       ESCALATION_SHARES)
    cells = " ".join(f"{p['kept_accuracy']:.3f} ({100 * p['escalated']:4.1f}%)".rjust(13) for p in pts)
    return f"{name:28} {len(outs):>5} {cells}"


def print_table(name: str, s: dict[str, Any]) -> None:
    for kind in ("label", "binary"):
        print(f"  reliability, {name}, {kind}: bin  n  mean confidence  accuracy")
        for b in s[kind]["table"]:
            print(f"    [{b['lo']:.2f}, {b['hi']:.2f}] {b['n']:>5} {b['confidence']:.3f} {b['accuracy']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--equal-mass", action="store_true", help="bins of equal count (default: equal width)")
    ap.add_argument("--tables", action="store_true", help="print the reliability tables")
    ap.add_argument("--lomo", action="store_true", help="also leave-one-model-out (dev rows)")
    ap.add_argument("--raw", action="store_true", help="confidences without the calibration map")
    ap.add_argument("--escalation", action="store_true", help="also the cascade's two ways to threshold "
                    "(on=label, on=refused) at ~10%% and ~20%% escalated")
    args = ap.parse_args()
    train_rows = [r for r in T.dev_rows() if r["label"] in T.CLASSES and r["response"].strip()]
    xs = [r for r in T.load_xstest() if r["split"] == "dev"]
    parity = [r for r in T.load_parity() if r["split"] == "dev"]
    score_rows = xs + parity
    outs = out_of_fold(score_rows, train_rows, args.folds, raw=args.raw)
    ox, op = outs[:len(xs)], outs[len(xs):]
    print(f"dev rows out of fold ({args.folds} folds; {'equal-mass' if args.equal_mass else 'equal-width'} "
          f"10 bins){' RAW (no calibration map)' if args.raw else ''}\n{HEADER}")
    report = {"XSTest dev": ox, **{f"XSTest dev {m}": [o for o, r in zip(ox, xs) if r["model"] == m]
                                   for m in sorted({r["model"] for r in xs})}}
    for name, o in report.items():
        print(fmt_line(name, summary(o, args.equal_mass)))
        if args.tables and name == "XSTest dev":
            print_table(name, summary(o, args.equal_mass))
    w = label_mix_weights(parity, xs)
    for mix, ws in (("as sampled", None), ("reweighted to the XSTest dev label mix", w)):
        print(f"parity set dev rows per language, {mix}")
        for lang in sorted({r["language"] for r in parity}) + ["all"]:
            sel = [i for i, r in enumerate(parity) if lang in ("all", r["language"])]
            s = summary([op[i] for i in sel], args.equal_mass, None if ws is None else [ws[i] for i in sel])
            print(fmt_line(f"parity dev {lang}", s))
            if args.tables and lang == "all":
                print_table(f"parity dev, all languages, {mix}", s)
    escalation = []
    if args.escalation:
        escalation += [escalation_line(name, o) for name, o in report.items()]
        escalation.append(escalation_line("parity dev all (as sampled)", op))
    if args.lomo:
        print(f"\nleave-one-model-out (trained on one model's dev rows, judging the other's dev rows)\n{HEADER}")
        for m in sorted({r["model"] for r in xs}):
            model = trainer(args.raw)(T.dev_rows(models={m}))
            judge = RefusalJudge(model=model)
            for other in sorted({r["model"] for r in xs} - {m}):
                o = judge_rows(judge, [r for r in xs if r["model"] == other])
                s = summary(o, args.equal_mass)
                print(fmt_line(f"{m} -> {other}", s))
                if args.tables:
                    print_table(f"{m} -> {other}", s)
                if args.escalation:
                    escalation.append(escalation_line(f"LOMO {m} -> {other}", o))
    if escalation:
        print("\ncascade: binary accuracy of the verdicts kept (share escalated) at ~10% / ~20% escalated, "
              f"thresholds on the label's confidence (on=label) or on refused-vs-not's (on=refused)\n"
              f"{ESCALATION_HEADER}")
        print("\n".join(escalation))


if __name__ == "__main__":
    main()
