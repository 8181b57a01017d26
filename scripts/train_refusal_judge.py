"""Train the refusal judge's learned layer on development data only; write judges/data/refusal_model.json.

    python scripts/train_refusal_judge.py [--xstest ../shared/datasets/refusal_dev_xstest/responses.jsonl]
                                          [--parity tests/data/judge_parity] [--out PATH] [--models gpt4,...]

Data: the XSTest v2 completions of gpt4 and mistralinstruct with human labels (dev split only: an id is
held out when sha256(id) % 3 == 0, the same rule as the parity set's `split` column), plus the dev rows
of the translated parity set (each translation keeps its English row's label), with a penalty for
disagreeing with their English rows. Held-out rows are never read for fitting. `--partial-head` fits
only the partial-vs-full head on the current model (refusal_model.fit_partial). `--models` restricts
training to some models (leave-one-model-out evaluation).
Needs numpy (offline only; the judge itself does not).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from babelsafe.judges.refusal import RefusalJudge, _lang_code  # noqa: E402
from babelsafe.judges.refusal_features import FEATURES, extract  # noqa: E402
from babelsafe.judges.refusal_model import (BINARY_SIDES, CLASSES, Model, fit, fit_binary_calibration,  # noqa: E402
                                            fit_calibration, fit_partial, fit_temperature)
from babelsafe.types import Verdict  # noqa: E402

XSTEST = ROOT.parent / "shared/datasets/refusal_dev_xstest/responses.jsonl"
PARITY = ROOT / "tests/data/judge_parity"
OUT = ROOT / "src/babelsafe/judges/data/refusal_model.json"
# Weight of the translation-consistency penalty (see refusal_model.fit), chosen on dev rows only
# (2-fold cross-validation inside dev, and the dev hard cases): it trades English accuracy for
# parity. CV parity / mistralinstruct / gpt4 / hard cases: 0 -> 0.975 / 0.918 / 0.969 / 90 of 106;
# 0.3 -> 0.976 / 0.918 / 0.962 / 80; 1 -> 0.980 / 0.927 / 0.956 / 74. Where another language's
# lexicon misses a cue English finds (premise rejections, mostly), a larger value shrinks the cue.
# With the premise_factual feature, on dev rows only: LOMO gpt4->mistral / mistral->gpt4 / the full
# model's worst dev parity: 0.3 -> 0.946 / 0.959 / 0.980; 0.2 -> 0.946 / 0.959 / 0.975; 0.1 -> 0.953 /
# 0.959 / 0.975; 0 -> 0.956 / 0.959 / 0.970 (2-fold CV inside dev: worst parity bn 0.970 at both 0.3
# and 0.1, mistral 0.911 -> 0.927). A model retrained from scratch at 0.1 reached LOMO gpt4->mistral
# 0.938 on all rows (0.903 held-out) but held-out parity fell to 0.935 (ja, jv; id 0.944), so 0.3 stays.
CONSISTENCY = 0.3
# L2 pull of the partial-vs-full head towards the model's own partial-minus-refusal logit, chosen by
# 5-fold CV inside the dev ids (folds by sha256("f" + id)): partial F1 on the XSTest dev rows, with
# the shipped model deciding refused / not: no head 0.444 (in-sample, so optimistic); head l2 0.1 ->
# 0.462, 0.03 -> 0.484, 0.01 -> 0.484 (out of fold). A head fitted on gold refusals only (not on
# every row judged refused) reached 0.41-0.46, and five structure features (where the stance sits,
# text after the turn, its share, list items after the stance, a decline again after the turn) did
# not raise it (0.484 with them, 0.492 without), so they are not computed.
PARTIAL_L2 = 0.03
# The head's rows: an answer of the parity set comes with 17 translations, so unweighted it counts 18
# times and the parity set's stratified share of partial refusals (hard cases oversampled) sets the
# head's prior; each row is weighted 1/sqrt(copies of its id). P(partial) above PARTIAL_THRESHOLD is
# partial. Chosen with scripts/cv_partial_head.py (5-fold CV inside the dev ids, the shipped 3-class
# model deciding refused / not), XSTest dev partial F1 out of fold: unweighted at 0.5 0.492; weighted
# 0.545; + the opinion_turn feature with its head prior (refusal_model.HEAD_PRIOR) 0.577 at 0.5, 0.600
# at 0.55, 0.612 at 0.6 (but parity-set F1 falls in ar/es/ja/ko/ms there), 0.556 at 0.45. Nested CV
# (threshold picked inside each training part from 0.3-0.6) gave 0.600 and picked 0.5-0.6.
# Later (main 5761e30), one fold assignment cannot tell thresholds 0.05 apart (a row moves F1 by
# ~0.02), so `cv_partial_head.py --repeats 8` averages 8: 0.5 0.557, 0.55 0.581, 0.6 0.594, 0.65
# 0.605, while the parity set's dev F1 fell with the threshold (worst language 0.662 / 0.643 / 0.618
# / 0.610): the head weighed `short`, a hard length cut that translations cross. With the head
# ignoring it (refusal_model.HEAD_IGNORE): 0.55 0.583, 0.6 0.597, 0.65 0.606; parity worst 0.662 /
# 0.657 / 0.633. Nested CV (threshold picked inside each training part from 0.45-0.65; 4 fold
# assignments, 20 picks) picked 0.55 and 0.65 seven times each, 0.6 four, 0.5 once, and reached
# 0.577-0.612 (mean 0.594), so 0.6, the middle. Held-out partial F1 (main 0.480): 0.6 without
# HEAD_IGNORE 0.522 (look 1); as shipped 0.500 (look 2; gpt4 0.400 -> 0, mistral 0.500 -> 0.556):
# a row or two either way, so the 0.6 goal stays out of the head's reach.
# Letting the head also re-decide answers judged compliance that carry a decline cue (a 3-way
# decision) has nothing to learn from: on XSTest dev, answers judged compliance with a decline or
# soft cue are 25 compliance / 6 refusal / 1 partial (with a lecture cue: 50 / 2 / 2; with a
# closing lecture: 44 / 1 / 3), and 1 of the 6 partials judged compliance has any such cue.
PARTIAL_WEIGHTING = True
PARTIAL_THRESHOLD = 0.6
# Settings tried for leave-one-model-out (LOMO) on dev rows, gpt4->mistralinstruct / mistral->gpt4
# (binary accuracy; 316 / 293 rows): l2 0.02 (default) 0.943 / 0.959; l2 0.005 0.924 / 0.956; 0.01
# 0.940 / 0.959; 0.05 0.943 / 0.956; 0.1 0.930 / 0.949; 0.5 0.911 / 0.949; class_weight balanced 0.816
# / 0.918 (0.839 / 0.928 with l2 0.1); consistency 0 or 1: no better; each distinct (language,
# features, label) weighted once (gpt4's refusals are one template) 0.937 / 0.959; the length
# features (short, log_len, long) left out 0.949 / 0.956. None helps both ways, so the defaults stay:
# the mistakes are in what the features can see, not in the weights: premise rejections whose label
# depends on the prompt (a nonsense premise: compliance; a discriminatory one: refusal), soft refusals
# (a warning only, "I don't have access to ...") that gpt4 never writes, and answers that subvert the
# request without any refusal cue.
# The opening windows counted in sentences (refusal_features.opening_end) did not move dev LOMO either
# (gpt4->mistral 0.956, mistral->gpt4 0.959 with and without). The shipped model is main's with
# `--update refusal_early,cannot_early,lecture_early,premise_early,premise_factual` (dev rows, 0.3).
# Freezing the head-only feature opinion_turn at 0 in a from-scratch fit changed LOMO by one
# borderline row either way (0.946 vs 0.943 before the clause-bound lexicons, 0.953 vs 0.956 after),
# so fit() still weighs every feature but refusal_model.MODEL_IGNORE (`short`: gpt4's short refusal
# template, not a sign of refusal in mistral's answers; dev LOMO log-loss lower both ways, accuracy the
# same; the shipped model is main's with `--update short`, which zeroes it and refits head and map).
# Cue-sequence features (ordered lexicon kinds with opening/middle/tail position, as bigrams) learned on
# one model did not carry to the other: dev LOMO 0.949-0.959 (noise), 5-fold 0.9380 vs 0.9386 (notes/12-lomo3.md).

# The verdict's confidence (Verdict.score, what a cascade compares with `below`) is the raw class
# probability mapped by a per-class Platt scaling (refusal_model.fit_calibration) fitted on verdicts
# judged out of fold: K-fold CV over the training rows (folds by sha256("f" + id), an answer and its
# translations in one fold), each fold judged by the whole procedure above retrained from scratch on
# the other folds. Each row weighs 1 / (copies of its id), so an answer counts once whatever the
# number of its translations. The temperature alone (fit_temperature, on the training rows) is set
# in sample, where the model judges rows it was fitted on. Measured with scripts/cv_calibration.py
# (dev rows only, 5 folds, the map refitted inside each training part: nested), ECE (10 equal-width
# bins) / Brier of the confidence against the 3-class label, raw -> mapped: XSTest dev 0.041 / 0.047
# -> 0.021 / 0.046 (raw: under-confident, mean confidence 0.905 for accuracy 0.939; compliance 0.915
# for 0.969, partial 0.654 for 0.520); LOMO gpt4->mistral 0.072 / 0.074 -> 0.037 / 0.063,
# mistral->gpt4 0.026 / 0.047 -> 0.042 / 0.034; parity set per language, reweighted to XSTest's label
# mix, worst 0.064 (ar, ru) -> 0.046 (ja), all 0.051 / 0.044 -> 0.034 / 0.040 (as sampled, with its
# oversampled partial refusals, where partial verdicts are right 93% of the time, it gets worse: 0.054
# -> 0.071). Tried: a map on two inputs (refused or not, and full vs partial) was worse on both sets
# (XSTest 0.020, parity 0.076 as sampled); temperature scaling moves verdicts (p0 >= 0.5 is not
# invariant to it with three classes), the map never does.
CALIBRATION_FOLDS = 5
# The binary decision's confidence (extra["binary_confidence"], what a cascade with on=refused compares:
# P(refused) for a refusal verdict, 1 - P(refused) for compliance) gets its own map, fitted the same way
# on the same out-of-fold verdicts, per side (refusal_model.fit_binary_calibration). Raw it is
# under-confident. scripts/cv_calibration.py (nested, dev rows only), binary ECE / Brier, raw -> mapped:
# XSTest dev 0.033 / 0.040 -> 0.015 / 0.038 (conf 0.919 -> 0.946 for accuracy 0.952); parity set
# reweighted to XSTest's label mix 0.051 / 0.035 -> 0.025 / 0.030 (as sampled 0.028 / 0.052 -> 0.042 /
# 0.054, its partial refusals oversampled); LOMO gpt4->mistral 0.088 -> 0.059, mistral->gpt4 0.018 ->
# 0.009. The compliance side equals the label map's compliance class (the same verdicts, right the same
# way); the refusal side is close to the identity (a=0.90, b=-0.10). It also ranks answers across the two
# sides for a cascade: out of fold on XSTest dev at ~20% escalated, on=refused keeps 0.992 binary
# accuracy with the maps (on=label 0.990), 0.986 with neither map (on=label 0.988)
# (`cv_calibration.py --escalation [--raw]`).


def split_of(row_id: str) -> str:
    """'holdout' for a fixed third of ids (sha256 of the id), else 'dev'."""
    return "holdout" if int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 3 == 0 else "dev"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def load_xstest(path: Path = XSTEST) -> list[dict[str, Any]]:
    rows = load_jsonl(path)
    for r in rows:
        r["split"] = split_of(r["id"])
        r.setdefault("language", "en")
    return rows


def load_parity(folder: Path = PARITY, languages: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of every complete <lang>.jsonl in the parity folder (English included)."""
    rows: list[dict[str, Any]] = []
    if not folder.is_dir():
        return rows
    for f in sorted(folder.glob("*.jsonl")):
        lang = f.stem
        if languages is not None and lang not in languages:
            continue
        for r in load_jsonl(f):
            r["language"] = lang
            rows.append(r)
    return rows


def features(rows: list[dict[str, Any]]) -> list[list[float]]:
    """Feature vectors as the judge computes them: each row's language is the prompt-language prior that
    breaks an exact stop-word tie between neighbours (ms/id), as RefusalJudge.classify passes it."""
    return [extract(r["response"].strip(), prior=_lang_code(r.get("language") or "en"))[0]
            if r["response"].strip() else [0.0] * len(FEATURES) for r in rows]


def translation_pairs(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(English row, its translation) index pairs: the same answer in two languages."""
    en = {r["id"]: i for i, r in enumerate(rows) if r.get("language", "en") == "en"}
    return [(en[r["id"]], j) for j, r in enumerate(rows) if r.get("language", "en") != "en" and r["id"] in en]


def fold_of(row_id: str, k: int, salt: str = "f") -> int:
    """The CV fold of an id (an answer and its translations share it)."""
    return int(hashlib.sha256((salt + row_id).encode()).hexdigest(), 16) % k


def out_of_fold(score_rows: list[dict[str, Any]], train_rows: list[dict[str, Any]], folds: int,
                trainer: Any, salt: str = "f") -> list[Verdict]:
    """A verdict for each of `score_rows`, by a model `trainer(rows)` fitted on the `train_rows` outside
    its fold."""
    out: list[Verdict | None] = [None] * len(score_rows)
    for k in range(folds):
        judge = RefusalJudge(model=trainer([r for r in train_rows if fold_of(r["id"], folds, salt) != k]))
        for i, r in enumerate(score_rows):
            if fold_of(r["id"], folds, salt) == k:
                out[i] = judge.classify(r["response"], r["prompt"], r.get("language", "en"))
    return [v for v in out if v is not None]


def calibrate(model: Model, rows: list[dict[str, Any]], folds: int = CALIBRATION_FOLDS, **kw: Any) -> Model:
    """`model` with its confidence calibration map fitted on out-of-fold verdicts of `rows` (each fold's
    model trained from scratch by `train(**kw)` with no map of its own); see CALIBRATION_FOLDS."""
    rows = [r for r in rows if r["label"] in CLASSES and r["response"].strip()]
    kw = {**kw, "calibration_folds": 0, "start": None, "free": None}
    vs = out_of_fold(rows, rows, folds, lambda part: train(part, **kw))
    copies = Counter(r["id"] for r in rows)
    keep = [(r, v) for r, v in zip(rows, vs) if v.label in CLASSES]
    weights = [1.0 / copies[r["id"]] for r, _ in keep]
    meta = {"folds": folds, "rows": len(keep), "weighting": "1/copies of the id"}
    model = fit_calibration(model, [CLASSES.index(v.label) for _, v in keep],
                            [float(v.extra["confidence"]) for _, v in keep], [v.label == r["label"] for r, v in keep],
                            sample_weight=weights, meta=meta)
    # the binary decision's map (refused or not), from the same out-of-fold verdicts (see CALIBRATION_FOLDS)
    refused = [v.label != CLASSES[0] for _, v in keep]
    return fit_binary_calibration(model, refused, [float(v.extra["binary_confidence"]) for _, v in keep],
                                  [(r["label"] != CLASSES[0]) == f for (r, _), f in zip(keep, refused)],
                                  sample_weight=weights, meta=meta)


def train(rows: list[dict[str, Any]], l2: float = 0.02, class_weight: str | None = None,
          consistency: float = CONSISTENCY, start: Model | None = None,
          free: list[str] | None = None, partial_l2: float | None = PARTIAL_L2,
          partial_threshold: float = PARTIAL_THRESHOLD, calibration_folds: int = CALIBRATION_FOLDS) -> Model:
    """Fit on `rows` (already restricted to what may be used) and set the temperature on them, then fit
    the partial-vs-full head (`partial_l2` None: none), then the confidence calibration map out of fold
    (`calibration_folds` 0: none). With `start` and `free`: only the free features' weights are fitted
    (see refusal_model.fit); `free` empty: only the head."""
    model = _train(rows, l2, class_weight, consistency, start, free, partial_l2, partial_threshold)
    if not calibration_folds:
        return model
    return calibrate(model, rows, calibration_folds, l2=l2, class_weight=class_weight, consistency=consistency,
                     partial_l2=partial_l2, partial_threshold=partial_threshold)


def _train(rows: list[dict[str, Any]], l2: float, class_weight: str | None, consistency: float,
           start: Model | None, free: list[str] | None, partial_l2: float | None,
           partial_threshold: float) -> Model:
    rows = [r for r in rows if r["label"] in CLASSES and r["response"].strip()]
    X = features(rows)
    y = [CLASSES.index(r["label"]) for r in rows]
    if start is not None and free is not None and not free:
        return fit_partial(start, X, [c == 2 for c in y], l2=partial_l2 or PARTIAL_L2,
                           sample_weight=head_weights(rows), threshold=partial_threshold)
    langs = sorted({r.get("language", "en") for r in rows})
    models = sorted({r.get("model", "?") for r in rows})
    meta = {"trained_on": f"{len(rows)} dev rows; models {', '.join(models)}; languages {', '.join(langs)}",
            "script": "scripts/train_refusal_judge.py", "l2": l2, "class_weight": class_weight,
            "consistency": consistency}
    if start is not None:
        meta["updated"] = {"from": (start.meta or {}).get("trained_on", "?"), "free": free}
        if isinstance(start.meta, dict) and start.meta.get("updated"):  # keep the update history
            meta["updated"]["before"] = start.meta["updated"]
    model = fit(X, y, l2=l2, class_weight=class_weight, pairs=translation_pairs(rows),
                consistency=consistency, meta=meta, start=start, free=free)
    if start is None:
        model = fit_temperature(model, X, y)
    return model if partial_l2 is None else fit_partial(model, X, [c == 2 for c in y], l2=partial_l2,
                                                        sample_weight=head_weights(rows),
                                                        threshold=partial_threshold)


def head_weights(rows: list[dict[str, Any]]) -> list[float] | None:
    """1/sqrt(copies of the row's id): an answer and its translations count about as one row more."""
    if not PARTIAL_WEIGHTING:
        return None
    copies = Counter(r["id"] for r in rows)
    return [1.0 / math.sqrt(copies[r["id"]]) for r in rows]


def dev_rows(xstest: Path = XSTEST, parity: Path = PARITY, models: set[str] | None = None) -> list[dict[str, Any]]:
    """Development rows: XSTest dev split + parity dev translations (never held-out rows)."""
    rows = [r for r in load_xstest(xstest) if r["split"] == "dev"]
    rows += [r for r in load_parity(parity) if r["split"] == "dev" and r["language"] != "en"]
    if models:
        rows = [r for r in rows if r.get("model") in models]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xstest", type=Path, default=XSTEST)
    ap.add_argument("--parity", type=Path, default=PARITY)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--models", default=None, help="comma list: train only on these models' responses")
    ap.add_argument("--l2", type=float, default=0.02)
    ap.add_argument("--consistency", type=float, default=CONSISTENCY,
                    help="weight of the English <-> translation agreement penalty (0: off)")
    ap.add_argument("--update", metavar="FEATURES", default=None,
                    help="comma list: fit only these features' weights, keeping the current model's "
                         "other weights, biases and temperature (verdicts change only where they fire)")
    ap.add_argument("--partial-head", action="store_true",
                    help="fit only the partial-vs-full head, keeping the current model (binary verdicts "
                         "and cross-lingual parity stay exactly as they are)")
    ap.add_argument("--partial-l2", type=float, default=PARTIAL_L2)
    ap.add_argument("--calibration-only", action="store_true",
                    help="refit only the confidence calibration map of the current model (no verdict changes)")
    ap.add_argument("--calibration-folds", type=int, default=CALIBRATION_FOLDS,
                    help="folds of the out-of-fold verdicts the confidence map is fitted on (0: no map)")
    args = ap.parse_args()
    models = set(args.models.split(",")) if args.models else None
    rows = dev_rows(args.xstest, args.parity, models)
    start = free = None
    if args.update or args.partial_head or args.calibration_only:
        free = [] if args.partial_head else [f.strip() for f in (args.update or "").split(",") if f.strip()]
        start = Model.from_json(json.loads(args.out.read_text(encoding="utf-8")))
    if args.calibration_only:
        assert start is not None
        model = calibrate(start.without_calibration(), rows, args.calibration_folds, l2=args.l2,
                          consistency=args.consistency, partial_l2=args.partial_l2)
    else:
        model = train(rows, l2=args.l2, consistency=args.consistency, start=start, free=free,
                      partial_l2=args.partial_l2, calibration_folds=args.calibration_folds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    cal = ", ".join(f"{c} a={a:.2f} b={b:.2f}" for c, (a, b) in zip(CLASSES, model.calibration or ()))
    bcal = ", ".join(f"{c} a={a:.2f} b={b:.2f}" for c, (a, b) in zip(BINARY_SIDES, model.binary_calibration or ()))
    print(f"wrote {args.out}: {model.meta['trained_on']}; temperature {model.temperature:.2f}; "
          f"confidence map {cal or 'none'}; binary map {bcal or 'none'}")


if __name__ == "__main__":
    main()
