"""How far to trust a judge, per language: agreement with human labels.

`calibrate(judge, labels_path)` runs a judge over a labelled CSV/JSONL file (columns `prompt`, `response`,
`language`, `label`; either vocabulary) and returns a JSON-able dict: `overall` and `by_language`, each
with n, accuracy, binary_accuracy, Cohen's kappa, per-class precision/recall/F1, a confusion matrix and
bootstrap 95% confidence intervals. The CLI renders it (babelsafe.cli.render.calibration).
"""
from __future__ import annotations

import asyncio
import csv
import inspect
import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import DataError, UsageError
from ..labels import JUDGE_ERROR, REFUSAL_VOCAB, SAFETY, SAFETY_VOCAB, vocabulary as _vocabulary
from ..metrics.stats import bootstrap_indices, cohen_kappa, percentile_interval
from ..types import Generation, Probe, Sample, Verdict

REQUIRED = ("prompt", "response", "language", "label")

# Refusal vocabulary -> safety vocabulary, meaningful when the prompts are harmful (a refusal is safe,
# compliance or partial compliance with a harmful request is unsafe).
REFUSAL_TO_SAFETY = {"full_compliance": "unsafe", "partial_refusal": "unsafe", "full_refusal": "safe",
                     "invalid": "invalid"}
_BINARY = {"full_compliance": "compliance", "full_refusal": "refusal", "partial_refusal": "refusal",
           "invalid": "invalid", "safe": "safe", "unsafe": "unsafe"}
_ALIASES = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal",
            "3_partial_refusal": "partial_refusal", "compliance": "full_compliance", "refusal": "full_refusal",
            "partial": "partial_refusal", "accept": "full_compliance", "refuse": "full_refusal",
            "harmful": "unsafe", "unharmful": "safe", "harmless": "safe"}


# -- labels file ---------------------------------------------------------------------------------------
def canonical_label(label: str) -> str:
    """Map label spellings (XSTest's '2_full_refusal', 'refusal', 'harmful' ...) onto babelsafe's."""
    key = str(label).strip().lower().replace(" ", "_")
    return _ALIASES.get(key, key)


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a labels CSV or JSONL file, validated (DataError names file, line and problem)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"Labels file '{p}' does not exist. Give a CSV or JSONL file with columns "
                         f"{', '.join(REQUIRED)}.")
    rows: list[dict[str, Any]] = []
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with p.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{p}:{i}: not valid JSON ({e.msg}).") from e
                if not isinstance(row, dict):
                    raise DataError(f"{p}:{i}: each line must be a JSON object.")
                rows.append(_check(row, p, i))
    elif p.suffix.lower() in (".csv", ".tsv"):
        with p.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
            for i, row in enumerate(reader, 2):
                rows.append(_check(dict(row), p, i))
    else:
        raise UsageError(f"Labels file '{p}': use a .csv, .tsv or .jsonl file.")
    if not rows:
        raise DataError(f"{p}: no labelled rows.")
    return rows


def _check(row: dict[str, Any], p: Path, line: int) -> dict[str, Any]:
    missing = [k for k in REQUIRED if row.get(k) is None or (k != "response" and str(row.get(k)).strip() == "")]
    if missing:
        raise DataError(f"{p}:{line}: missing {', '.join(missing)} (need {', '.join(REQUIRED)}).")
    label = canonical_label(row["label"])
    if label not in REFUSAL_VOCAB and label not in SAFETY_VOCAB:
        raise DataError(f"{p}:{line}: unknown label '{row['label']}'. Use one of "
                        f"{', '.join(REFUSAL_VOCAB)} or {', '.join(SAFETY_VOCAB)}.")
    out = dict(row)
    out["label"] = label
    out["language"] = str(row["language"]).strip().lower()
    out["response"] = "" if row["response"] is None else str(row["response"])
    return out


# -- running the judge ----------------------------------------------------------------------------------
def build_judge(judge: Any, options: dict[str, Any] | None = None, ctx: Any = None) -> Any:
    """A judge instance from an instance, a registry name, or a spec dict {name, options}."""
    if not isinstance(judge, (str, dict)):
        return judge
    from ..registry import registry

    if isinstance(judge, dict):
        name, opts = judge.get("name"), {**(judge.get("options") or {}), **(options or {})}
    elif ":" in judge:  # the compact form of --judge: 'cascade:first=refusal,then=...,below=0.8'
        from ..spec import parse_step

        step = parse_step(judge)
        name, opts = step["name"], {**step["options"], **(options or {})}
    else:
        name, opts = judge, dict(options or {})
    if ctx is None:
        from ..context import LocalContext

        ctx = LocalContext()
    return registry("judge").build(str(name), opts, ctx)


async def judge_rows(judge: Any, rows: list[dict[str, Any]], concurrency: int = 8) -> list[Verdict]:
    """Verdicts for each row, in order (sync `classify` when the judge has one, else `judge`)."""
    classify = getattr(judge, "classify", None)
    if callable(classify) and not inspect.iscoroutinefunction(classify):
        return [classify(r["response"], r["prompt"], r["language"]) for r in rows]
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(i: int, r: dict[str, Any]) -> Verdict:
        sample = Sample("calibration", str(r.get("id", i)), r["language"], r["prompt"],
                        category=r.get("category"), meta={k: v for k, v in r.items() if k not in REQUIRED})
        probe = Probe(sample, [{"role": "user", "content": r["prompt"]}], language=r["language"])
        async with sem:
            try:
                return await judge.judge(probe, Generation(text=r["response"]))
            except Exception as e:  # a judge bug is a judge_error, counted, not a crash
                return Verdict(getattr(judge, "name", "judge"), JUDGE_ERROR, error=f"{type(e).__name__}: {e}")

    return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(rows))))


# -- metrics --------------------------------------------------------------------------------------------
def _vocab_of(labels: Iterable[str]) -> str:
    """'safety' or 'refusal' (labels.vocabulary; a vocabulary it cannot tell is scored as refusal)."""
    return "safety" if _vocabulary(labels) == SAFETY else "refusal"


def _per_class(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[lab] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                    "support": tp + fn}
    return out


def metrics(gold: list[str], pred: list[str], labels: list[str], bootstrap: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """n, accuracy, binary_accuracy, kappa, per_class, confusion and bootstrap 95% CIs."""
    n = len(gold)
    errors = sum(p == JUDGE_ERROR for p in pred)
    pairs = [(g, p) for g, p in zip(gold, pred) if p != JUDGE_ERROR]
    g2 = [g for g, _ in pairs]
    p2 = [p for _, p in pairs]
    m = len(pairs)
    acc = sum(g == p for g, p in pairs) / m if m else float("nan")
    bin_acc = sum(_BINARY.get(g, g) == _BINARY.get(p, p) for g, p in pairs) / m if m else float("nan")
    kappa = cohen_kappa(g2, p2)
    confusion: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred):
        confusion.setdefault(g, {})
        confusion[g][p] = confusion[g].get(p, 0) + 1
    out: dict[str, Any] = {
        "n": n, "n_judged": m, "n_judge_error": errors,
        "accuracy": round(acc, 4), "binary_accuracy": round(bin_acc, 4), "kappa": round(kappa, 4),
        "per_class": _per_class(g2, p2, labels), "confusion": confusion,
    }
    if bootstrap and m:
        accs, kaps = [], []
        for idx in bootstrap_indices(m, bootstrap, seed):
            bg = [g2[i] for i in idx]
            bp = [p2[i] for i in idx]
            accs.append(sum(a == b for a, b in zip(bg, bp)) / m)
            kaps.append(cohen_kappa(bg, bp))
        out["accuracy_ci"] = percentile_interval(accs)
        out["kappa_ci"] = percentile_interval(kaps)
    return out


def calibrate(judge: Any, labels_path: str | Path, *, options: dict[str, Any] | None = None, ctx: Any = None,
              vocabulary: str | None = None, bootstrap: int = 1000, seed: int = 0, concurrency: int = 8,
              max_mistakes: int = 50, by: str = "language") -> dict[str, Any]:
    """Agreement of `judge` (instance, registry name or {name, options}) with the labels in `labels_path`.

    vocabulary: 'refusal' | 'safety' | None (auto: the gold labels' vocabulary; when judge and gold use
    different vocabularies the refusal side is mapped to safety: refusal -> safe, (partial) compliance ->
    unsafe, which is only meaningful for harmful prompts).
    """
    rows = load_labels(labels_path)
    own_ctx = None
    if ctx is None and isinstance(judge, (str, dict)):
        from ..context import LocalContext

        ctx = own_ctx = LocalContext()
    j = build_judge(judge, options, ctx)

    async def go() -> list[Verdict]:
        try:
            return await judge_rows(j, rows, concurrency)
        finally:
            if own_ctx is not None:
                await own_ctx.aclose()

    verdicts = _run(go())
    return summarize(j, rows, verdicts, labels_path=str(labels_path), vocabulary=vocabulary,
                     bootstrap=bootstrap, seed=seed, max_mistakes=max_mistakes, by=by)


def _run(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (e.g. a notebook): run in a worker thread with its own loop.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


def escalation_curve(gold: list[str], pred: list[str], conf: list[float | None],
                     thresholds: Iterable[float] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)) -> list[dict[str, Any]]:
    """Accuracy against the share of answers a cascade would escalate, per confidence threshold.

    For each threshold t: `escalated` = share of verdicts with confidence < t; `kept_accuracy` =
    binary accuracy of the verdicts kept (confidence >= t); `accuracy_if_escalations_right` = overall
    binary accuracy if the escalated answers were judged correctly (an upper bound for the cascade)."""
    pairs = [(g, p, c) for g, p, c in zip(gold, pred, conf) if p != JUDGE_ERROR and c is not None]
    n = len(pairs)
    out = []
    if not n:
        return out
    for t in thresholds:
        kept = [(g, p) for g, p, c in pairs if c >= t]
        right = sum(_BINARY.get(g, g) == _BINARY.get(p, p) for g, p in kept)
        out.append({"threshold": t, "escalated": round(1 - len(kept) / n, 4),
                    "kept_accuracy": round(right / len(kept), 4) if kept else None,
                    "accuracy_if_escalations_right": round((right + n - len(kept)) / n, 4)})
    return out


def summarize(judge: Any, rows: list[dict[str, Any]], verdicts: list[Verdict], *, labels_path: str = "",
              vocabulary: str | None = None, bootstrap: int = 1000, seed: int = 0,
              max_mistakes: int = 50, by: str = "language") -> dict[str, Any]:
    """The calibration report for rows already judged."""
    gold = [r["label"] for r in rows]
    pred = [canonical_label(v.label) if v.label != JUDGE_ERROR else JUDGE_ERROR for v in verdicts]
    gold_vocab = _vocab_of(gold)
    judge_vocab = _vocab_of(getattr(judge, "labels", None) or pred)
    vocab = vocabulary or gold_vocab
    if vocab not in ("refusal", "safety"):
        raise UsageError(f"vocabulary must be 'refusal' or 'safety', not '{vocab}'.")
    mapping = None
    if vocab == "safety":
        if gold_vocab == "refusal":
            gold = [REFUSAL_TO_SAFETY.get(g, g) for g in gold]
            mapping = "gold refusal labels mapped to safety"
        if judge_vocab == "refusal":
            pred = [REFUSAL_TO_SAFETY.get(p, p) for p in pred]
            mapping = "judge refusal labels mapped to safety"
    elif gold_vocab == "safety" or judge_vocab == "safety":
        raise UsageError("Cannot score safety labels in the refusal vocabulary; use vocabulary='safety' "
                         "(refusal -> safe, compliance -> unsafe).")
    labels = list(SAFETY_VOCAB if vocab == "safety" else REFUSAL_VOCAB)
    result: dict[str, Any] = {
        "judge": getattr(judge, "name", str(judge)), "labels_file": labels_path, "vocabulary": vocab,
        "mapping": mapping, "labels": labels,
        "overall": metrics(gold, pred, labels, bootstrap, seed),
        "by": by, "groups": {},
    }
    if rows and by not in rows[0] and not any(by in r for r in rows):
        raise UsageError(f"--by {by}: the labels file has no column '{by}'. Columns: {', '.join(rows[0])}.")
    for key in sorted({str(r.get(by, "")) for r in rows}):
        idx = [i for i, r in enumerate(rows) if str(r.get(by, "")) == key]
        result["groups"][key] = metrics([gold[i] for i in idx], [pred[i] for i in idx], labels, bootstrap, seed)
    if by == "language":
        result["by_language"] = result["groups"]
    else:
        result["by_language"] = {}
        for lang in sorted({r["language"] for r in rows}):
            idx = [i for i, r in enumerate(rows) if r["language"] == lang]
            result["by_language"][lang] = metrics([gold[i] for i in idx], [pred[i] for i in idx], labels, 0, seed)
    conf = [(v.extra or {}).get("confidence", v.score) if v.label != JUDGE_ERROR else None for v in verdicts]
    if any(c is not None for c in conf) and getattr(judge, "name", "") not in ("llm", "guard"):
        result["escalation"] = escalation_curve(gold, pred, conf)
    answered = [(v.extra or {}).get("answer_language") for v in verdicts]
    if any(answered):
        share: dict[str, dict[str, float]] = {}
        for r, a in zip(rows, answered):
            d = share.setdefault(r["language"], {})
            d[a or "unknown"] = d.get(a or "unknown", 0) + 1
        result["answer_languages"] = {k: {a: round(c / sum(d.values()), 4) for a, c in sorted(d.items())}
                                      for k, d in share.items()}
    cases = [r.get("case") for r in rows]
    if any(cases):
        by_case: dict[str, dict[str, Any]] = {}
        for c, g, p in zip(cases, gold, pred):
            d = by_case.setdefault(str(c), {"n": 0, "correct": 0})
            d["n"] += 1
            d["correct"] += int(g == p)
        for d in by_case.values():
            d["accuracy"] = round(d["correct"] / d["n"], 4)
        result["by_case"] = dict(sorted(by_case.items()))
    # The worst mistakes first: wrong verdicts the judge was most confident about.
    wrong = [(c if c is not None else 1.0, i) for i, (g, p, c) in enumerate(zip(gold, pred, conf)) if g != p]
    wrong.sort(key=lambda t: (-t[0], t[1]))
    mistakes = []
    for c, i in wrong[:max_mistakes]:
        r, v = rows[i], verdicts[i]
        mistakes.append({"id": r.get("id"), "language": r["language"], by: r.get(by), "gold": gold[i],
                         "pred": pred[i], "confidence": c, "rationale": v.rationale, "error": v.error,
                         "response": r["response"][:300], "case": r.get("case")})
    result["mistakes"] = mistakes
    return result
