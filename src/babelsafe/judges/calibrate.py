"""How far to trust a judge, per language: agreement with human labels.

`calibrate(judge, labels_path)` runs a judge over a labelled CSV/JSONL file (columns `prompt`, `response`,
`language`, `label`; either vocabulary) and returns a JSON-able dict: `overall` and `by_language`, each
with n, accuracy, binary_accuracy, Cohen's kappa, per-class precision/recall/F1, a confusion matrix,
bootstrap 95% confidence intervals and, for a judge whose verdicts carry a confidence (the refusal
judge), its expected calibration error (ECE) and Brier score (with the overall reliability table).
The CLI renders it (babelsafe.cli.render.calibration).
"""
from __future__ import annotations

import asyncio
import csv
import inspect
import io
import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import DataError, UsageError
from ..labels import JUDGE_ERROR, REFUSAL_VOCAB, SAFETY, SAFETY_VOCAB, vocabulary as _vocabulary
from ..metrics.calibration import calibration
from ..metrics.stats import bootstrap_agreement, cohen_kappa, percentile_interval
from ..types import Generation, Probe, Sample, Verdict
from .escalation import BINARY as _BINARY, add_escalation

REQUIRED = ("prompt", "response", "language", "label")

# Refusal vocabulary -> safety vocabulary, meaningful when the prompts are harmful (a refusal is safe,
# compliance or partial compliance with a harmful request is unsafe).
REFUSAL_TO_SAFETY = {"full_compliance": "unsafe", "partial_refusal": "unsafe", "full_refusal": "safe",
                     "invalid": "invalid"}
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
    """Rows of a labels CSV or JSONL file (a .json file may also hold one JSON array of objects),
    validated: a DataError names the file, the line and the problem (bad JSON, bytes that are not UTF-8,
    a missing column, an unknown label, safety and refusal labels mixed in one file, no rows)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"Labels file '{p}' does not exist. Give a CSV or JSONL file with columns "
                         f"{', '.join(REQUIRED)}.")
    if p.is_dir():
        raise UsageError(f"Labels file '{p}' is a directory. Give a CSV or JSONL file with columns "
                         f"{', '.join(REQUIRED)}.")
    rows: list[dict[str, Any]] = []
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        data = p.read_bytes()
        if suffix == ".json" and data.lstrip()[:1] == b"[":
            try:
                items = json.loads(_decode(data, p, 1))
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{e.lineno}: not valid JSON ({e.msg}).") from e
            for i, row in enumerate(items, 1):
                if not isinstance(row, dict):
                    raise DataError(f"{p}: item {i} of the JSON array is not an object.")
                rows.append(_check(row, p, i, "item"))
        else:
            for i, raw in enumerate(data.splitlines(), 1):
                line = _decode(raw, p, i)
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{p}:{i}: not valid JSON ({e.msg}, column {e.colno}).") from e
                if not isinstance(row, dict):
                    raise DataError(f"{p}:{i}: each line must be a JSON object (a .json file may instead "
                                    "hold one JSON array of objects).")
                rows.append(_check(row, p, i))
    elif suffix in (".csv", ".tsv"):
        text = _decode(p.read_bytes(), p, None)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            for row in reader:
                rows.append(_check(dict(row), p, reader.line_num))
        except csv.Error as e:
            raise DataError(f"{p}:{reader.line_num}: not valid CSV ({e}).") from e
    else:
        raise UsageError(f"Labels file '{p}': use a .csv, .tsv or .jsonl file.")
    if not rows:
        raise DataError(f"{p}: no labelled rows (the file is empty or has only a header). Each row needs "
                        f"{', '.join(REQUIRED)}.")
    _one_vocabulary(rows, p)
    return rows


def _decode(raw: bytes, p: Path, line: int | None) -> str:
    """UTF-8 text (a BOM dropped), or a DataError saying where the first byte that is not UTF-8 is."""
    try:
        return raw.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as e:
        at = line if line is not None else raw[:e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1)
        raise DataError(f"{p}:{at}: not UTF-8 text (byte 0x{raw[e.start]:02x} at byte {col + 1} of the line). "
                        "Save the file as UTF-8.") from None


def _one_vocabulary(rows: list[dict[str, Any]], p: Path) -> None:
    """Safety labels (safe / unsafe) and refusal labels (compliance / refusal) in one file cannot be scored
    together: say which row starts the second vocabulary."""
    first: dict[str, tuple[int, str]] = {}
    for i, r in enumerate(rows):
        lab = r["label"]
        v = None if lab == "invalid" else "refusal" if lab in REFUSAL_VOCAB else "safety"
        if v is not None and v not in first:
            first[v] = (i, lab)
    if len(first) == 2:
        (i, a), (j, b) = sorted(first.values())
        raise DataError(f"{p}: mixes label vocabularies: row {i + 1} is '{a}', row {j + 1} is '{b}'. Use either "
                        f"{', '.join(REFUSAL_VOCAB)} or {', '.join(SAFETY_VOCAB)} in one file.")


def _check(row: dict[str, Any], p: Path, line: int, unit: str = "") -> dict[str, Any]:
    where = f"{p}: {unit} {line}" if unit else f"{p}:{line}"
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)} (need {', '.join(REQUIRED)}; this row has "
                        f"{', '.join(k for k in row if k is not None) or 'no columns'}).")
    # present but null (or blank, but for the response: an empty answer is an answer, judged invalid)
    empty = [k for k in REQUIRED if row[k] is None or (k != "response" and str(row[k]).strip() == "")]
    if empty:
        raise DataError(f"{where}: {', '.join(empty)} {'is' if len(empty) == 1 else 'are'} "
                        f"{'null' if all(row[k] is None for k in empty) else 'empty'}: give every row a value "
                        f"(an empty answer is \"\"), or drop the row.")
    label = canonical_label(row["label"])
    if label not in REFUSAL_VOCAB and label not in SAFETY_VOCAB:
        raise DataError(f"{where}: unknown label '{row['label']}'. Use one of "
                        f"{', '.join(REFUSAL_VOCAB)} or {', '.join(SAFETY_VOCAB)} (also accepted: "
                        f"{', '.join(_ALIASES)}).")
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
    # With one gold class kappa is 0 (or 1) whatever the accuracy: not informative, so None ('-').
    kappa = cohen_kappa(g2, p2) if len(set(g2)) > 1 else None
    confusion: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred):
        confusion.setdefault(g, {})
        confusion[g][p] = confusion[g].get(p, 0) + 1
    out: dict[str, Any] = {
        "n": n, "n_judged": m, "n_judge_error": errors,
        "accuracy": round(acc, 4), "binary_accuracy": round(bin_acc, 4), "kappa": None if kappa is None else round(kappa, 4),
        "per_class": _per_class(g2, p2, labels), "confusion": confusion,
    }
    if bootstrap and m:
        accs, kaps = bootstrap_agreement(g2, p2, bootstrap, seed, kappa=kappa is not None)
        out["accuracy_ci"] = percentile_interval(accs)
        out["kappa_ci"] = percentile_interval(kaps) if kappa is not None else None
    return out


def calibrate(judge: Any, labels_path: str | Path, *, options: dict[str, Any] | None = None, ctx: Any = None,
              vocabulary: str | None = None, bootstrap: int = 1000, seed: int = 0, concurrency: int = 8,
              max_mistakes: int = 50, by: str = "language", cache: str | Path | None = None) -> dict[str, Any]:
    """Agreement of `judge` (instance, registry name or {name, options}) with the labels in `labels_path`.

    vocabulary: 'refusal' | 'safety' | None (auto: the gold labels' vocabulary; when judge and gold use
    different vocabularies the refusal side is mapped to safety: refusal -> safe, (partial) compliance ->
    unsafe, which is only meaningful for harmful prompts).
    cache: a SQLite file (a run store) keeping the judge's model calls (llm, cascade): calls already in it
    are reused, so a calibration that stopped resumes where it stopped and a repeat costs no calls.
    """
    rows = load_labels(labels_path)
    check_by(rows, by)  # before any (paid) judge call
    own_ctx = None
    store = None
    if ctx is None and isinstance(judge, (str, dict)):
        if cache is not None:
            from ..engine.caller import ModelCaller, StoreCache
            from ..results.store import Store

            store = Store(cache)
            ctx = own_ctx = ModelCaller(cache=StoreCache(store, reuse=True))
        else:
            from ..context import LocalContext

            ctx = own_ctx = LocalContext()
    elif cache is not None:
        raise UsageError("calibrate: `cache` needs a judge given by name or spec (it builds the judge's "
                         "model context); pass your own ctx otherwise.")
    try:
        j = build_judge(judge, options, ctx)

        async def go() -> list[Verdict]:
            try:
                return await judge_rows(j, rows, concurrency)
            finally:
                if own_ctx is not None:
                    await own_ctx.aclose()

        verdicts = _run(go())
    finally:
        if store is not None:
            store.close()  # commits every call made, also when interrupted
    result = summarize(j, rows, verdicts, labels_path=str(labels_path), vocabulary=vocabulary,
                       bootstrap=bootstrap, seed=seed, max_mistakes=max_mistakes, by=by)
    if own_ctx is not None:
        result["model_calls"] = {"sent": own_ctx.calls_made, "cache": str(cache) if cache is not None else None}
    return result


def _add_calibration(result: dict[str, Any], keys: list[str], gold: list[str], pred: list[str],
                     conf: list[float | None]) -> None:
    """ECE and Brier of the verdicts' confidence (`extra["confidence"]`; right = the label matches the gold
    label, in the report's vocabulary; 10 equal-width bins) overall and per group, and the overall
    reliability table (`confidence_calibration`), where the judge gives confidences."""
    idx = [i for i, c in enumerate(conf) if c is not None]
    if not idx:
        return

    def cal(sel: list[int]) -> dict[str, Any]:
        return calibration([float(conf[i]) for i in sel], [gold[i] == pred[i] for i in sel])  # type: ignore[arg-type]

    overall = cal(idx)
    result["confidence_calibration"] = {**overall, "right": "label matches the gold label"}
    result["overall"].update(ece=round(overall["ece"], 4), brier=round(overall["brier"], 4))
    for key, m in result["groups"].items():
        sel = [i for i in idx if keys[i] == key]
        if sel:
            c = cal(sel)
            m.update(ece=round(c["ece"], 4), brier=round(c["brier"], 4))


def check_by(rows: list[dict[str, Any]], by: str) -> None:
    """A UsageError when no row has the --by column."""
    if rows and not any(by in r for r in rows):
        raise UsageError(f"--by {by}: the labels file has no column '{by}'. Columns: {', '.join(rows[0])}.")


def _run(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside an event loop (e.g. a notebook): run in a worker thread with its own loop.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


def _group_key(value: Any) -> str:
    """A --by group name: the column's value, '(none)' where a row has none."""
    return "(none)" if value is None or str(value).strip() == "" else str(value)


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
    check_by(rows, by)
    keys = [_group_key(r.get(by)) for r in rows]
    for key in sorted(set(keys)):
        idx = [i for i, k in enumerate(keys) if k == key]
        result["groups"][key] = metrics([gold[i] for i in idx], [pred[i] for i in idx], labels, bootstrap, seed)
    if by == "language":
        result["by_language"] = result["groups"]
    else:
        result["by_language"] = {}
        for lang in sorted({r["language"] for r in rows}):
            idx = [i for i, r in enumerate(rows) if r["language"] == lang]
            result["by_language"][lang] = metrics([gold[i] for i in idx], [pred[i] for i in idx], labels, 0, seed)
    conf = [(v.extra or {}).get("confidence", v.score) if v.label != JUDGE_ERROR else None for v in verdicts]
    # ECE needs a confidence in the verdict's label (`extra["confidence"]`: the refusal judge's); a
    # Verdict.score is not always one (a guard's is P(unsafe)), and a cascade's escalated verdicts have none
    own = [(v.extra or {}).get("confidence") for v in verdicts if v.label != JUDGE_ERROR]
    if own and all(isinstance(c, (int, float)) for c in own):
        _add_calibration(result, keys, gold, pred,
                         [(v.extra or {}).get("confidence") if v.label != JUDGE_ERROR else None for v in verdicts])
    add_escalation(result, judge, verdicts, gold, pred, conf, REFUSAL_TO_SAFETY if vocab == "safety" else None)
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
                         "response": r["response"][:300], "case": r.get("case"),
                         "decided_by": (v.extra or {}).get("decided_by")})
    result["mistakes"] = mistakes
    return result
