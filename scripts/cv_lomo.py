"""Leave-one-model-out (LOMO) on dev rows only, with a lower-variance estimate for comparing lexicon
or feature changes.

    python scripts/cv_lomo.py [--folds 5]

For each direction (gpt4 -> mistralinstruct, mistralinstruct -> gpt4): the learned layer is trained
on the training model's dev rows (XSTest + parity translations), then on each of `folds` subsets
that leave out one fold of its ids (folds by sha256("f" + id)). Each model is scored on all of the
other model's dev rows: binary accuracy, mean log-loss and Brier score of P(refused). A one-row
change in accuracy is noise; log-loss moves with every row. Held-out rows are never read.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

import train_refusal_judge as T  # noqa: E402

from babelsafe.judges.refusal import RefusalJudge  # noqa: E402


def refused(label: str) -> bool:
    return label in ("full_refusal", "partial_refusal")


def fold_of(row_id: str, folds: int) -> int:
    return int(hashlib.sha256(("f" + row_id).encode()).hexdigest(), 16) % folds


def score(judge: RefusalJudge, rows: list[dict[str, Any]]) -> tuple[float, float, float]:
    """(binary accuracy, mean log-loss, mean Brier) of P(refused) on `rows`."""
    acc = ll = brier = 0.0
    for r in rows:
        v = judge.classify(r["response"], r["prompt"], "en")
        p = v.extra.get("p_refused")
        p = (1.0 if refused(v.label) else 0.0) if p is None else float(p)
        y = refused(r["label"])
        acc += refused(v.label) == y
        ll -= math.log(min(max(p if y else 1.0 - p, 1e-6), 1.0))
        brier += (p - y) ** 2
    n = len(rows)
    return acc / n, ll / n, brier / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    rows = T.dev_rows()
    xs = [r for r in T.load_xstest() if r["split"] == "dev"]
    models = sorted({r["model"] for r in xs})
    for train_m in models:
        for test_m in models:
            if test_m == train_m:
                continue
            test = [r for r in xs if r["model"] == test_m]
            full = score(RefusalJudge(model=T.train([r for r in rows if r["model"] == train_m])), test)
            parts = [score(RefusalJudge(model=T.train([r for r in rows if r["model"] == train_m
                                                        and fold_of(r["id"], args.folds) != k])), test)
                     for k in range(args.folds)]
            mean = [sum(p[i] for p in parts) / len(parts) for i in range(3)]
            print(f"{train_m} -> {test_m} (n {len(test)}): all dev acc {full[0]:.3f} log-loss {full[1]:.4f} "
                  f"brier {full[2]:.4f} | {args.folds}-fold mean acc {mean[0]:.4f} log-loss {mean[1]:.4f} "
                  f"brier {mean[2]:.4f} | folds {' '.join(f'{p[0]:.3f}' for p in parts)}")


if __name__ == "__main__":
    main()
