"""Cross-validate the refusal judge's partial-vs-full head on development rows only.

    python scripts/cv_partial_head.py [--folds 5] [--unweighted] [--thresholds 0.5,0.55,0.6]
                                     [--repeats 8]

The shipped 3-class model decides refused / not (as the judge does); the head is refitted on the dev
rows of K-1 folds (folds by sha256("f" + id), so an answer and its translations share a fold) and
judges the rows of the last fold; `--repeats N` repeats that with N fold assignments (salts "f", "f1",
..., so the first is the default's) and prints the mean over them: one row of 25 dev partials moves
F1 by about 0.02, so a single fold assignment cannot tell thresholds 0.05 apart. Printed per
threshold: partial-refusal F1 out of fold on the XSTest dev rows (both models, then each model) and
on the parity set's dev rows per language. Held-out rows (sha256(id) % 3 == 0) are never read. This
is what PARTIAL_THRESHOLD in train_refusal_judge.py was chosen with; the held-out figure is
bench_judge_validity.py's.
Needs numpy (offline only).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

import train_refusal_judge as T  # noqa: E402

from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from babelsafe.judges.refusal_model import CLASSES, fit_partial, shipped_model  # noqa: E402

PARTIAL = "partial_refusal"


def fold_of(row_id: str, k: int, salt: str = "f") -> int:
    return int(hashlib.sha256((salt + row_id).encode()).hexdigest(), 16) % k


def f1(pairs: list[tuple[str, str]]) -> tuple[float, int, int, int]:
    """(F1, true positives, predicted, gold) of partial_refusal over (gold, predicted) pairs."""
    tp = sum(g == p == PARTIAL for g, p in pairs)
    npred = sum(p == PARTIAL for _, p in pairs)
    ngold = sum(g == PARTIAL for g, _ in pairs)
    return (2 * tp / (npred + ngold) if npred + ngold else 0.0), tp, npred, ngold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--unweighted", action="store_true", help="every row weighs 1 (translations too)")
    ap.add_argument("--thresholds", default="0.4,0.45,0.5,0.55,0.6,0.65")
    ap.add_argument("--l2", type=float, default=T.PARTIAL_L2)
    ap.add_argument("--repeats", type=int, default=1, help="fold assignments to average over")
    args = ap.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    T.PARTIAL_WEIGHTING = not args.unweighted
    base = shipped_model()
    judge = RefusalJudge(model=base)
    # every dev row: the fitting rows (XSTest dev + non-English parity) and the parity English rows
    train_rows = [r for r in T.dev_rows() if r["label"] in CLASSES and r["response"].strip()]
    parity = [dict(r, src="parity") for r in T.load_parity() if r["split"] == "dev"]
    rows: list[dict[str, Any]] = [dict(r, src="xstest") for r in train_rows if "translator" not in r] + parity
    X_train = T.features(train_rows)
    X_rows = T.features(rows)
    # verdicts that do not depend on the head: invalid, compliance, code answers
    fixed = []
    for r, x in zip(rows, X_rows):
        v = judge.classify(r["response"], r["prompt"], r.get("language", "en"))
        fixed.append(v.label if v.label in ("invalid", "full_compliance") else None)
    salts = ["f"] + [f"f{i}" for i in range(1, args.repeats)]
    pps = [out_of_fold(args, base, train_rows, X_train, rows, X_rows, salt) for salt in salts]
    print(f"{'thr':>5} {'XSTest dev F1 (tp/pred/gold)':>30} {'gpt4':>6} {'mistral':>7}  parity dev per language"
          + (f" (mean of {len(salts)} fold assignments)" if len(salts) > 1 else ""))
    for t in thresholds:
        xs, gpt4, mistral = [], [], []
        by_lang: dict[str, list[float]] = defaultdict(list)
        for pp in pps:
            pred = [f if f is not None else (PARTIAL if p > t else "full_refusal") for f, p in zip(fixed, pp)]
            xs.append(f1([(r["label"], p) for r, p in zip(rows, pred) if r["src"] == "xstest"]))
            gpt4.append(f1([(r["label"], p) for r, p in zip(rows, pred)
                            if r["src"] == "xstest" and r["model"] == "gpt4"])[0])
            mistral.append(f1([(r["label"], p) for r, p in zip(rows, pred)
                               if r["src"] == "xstest" and r["model"] == "mistralinstruct"])[0])
            pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for r, p in zip(rows, pred):
                if r["src"] == "parity":
                    pairs[r["language"]].append((r["label"], p))
            for lang, v in pairs.items():
                by_lang[lang].append(f1(v)[0])
        n = len(pps)
        a = (sum(v[0] for v in xs) / n, sum(v[1] for v in xs) / n, sum(v[2] for v in xs) / n, xs[0][3])
        langs = " ".join(f"{lang}:{sum(v) / n:.2f}" for lang, v in sorted(by_lang.items()))
        print(f"{t:>5.2f} {a[0]:>12.3f} ({a[1]:.1f}/{a[2]:.1f}/{a[3]}){'':>9} {sum(gpt4) / n:>6.3f} "
              f"{sum(mistral) / n:>7.3f}  {langs}")


def out_of_fold(args: argparse.Namespace, base: Any, train_rows: list[dict[str, Any]], X_train: list[list[float]],
                rows: list[dict[str, Any]], X_rows: list[list[float]], salt: str) -> list[float]:
    """P(partial) of every row from a head fitted without its fold (folds by sha256(salt + id))."""
    pp: list[float] = [0.0] * len(rows)
    for k in range(args.folds):
        keep = [i for i, r in enumerate(train_rows) if fold_of(r["id"], args.folds, salt) != k]
        fit_rows = [train_rows[i] for i in keep]
        head = fit_partial(base, [X_train[i] for i in keep], [r["label"] == PARTIAL for r in fit_rows],
                           l2=args.l2, sample_weight=T.head_weights(fit_rows), threshold=0.5)
        for i, (r, x) in enumerate(zip(rows, X_rows)):
            if fold_of(r["id"], args.folds, salt) == k:
                pp[i] = head.p_partial(x, head.proba(x))
    return pp

if __name__ == "__main__":
    main()
