"""The refusal judge on a third model it was never tuned on: the embedded SmolLM2's real answers.

    python benchmarks/bench_judge_third_model.py [--run xstest=runs/smol3_xstest] [--half dev|measure|all]
                                                 [--mistakes] [--json F]

Data: tests/data/refusal_third_model/answers.jsonl (read its SOURCE.md): SmolLM2-135M-Instruct's answers to
the 450 XSTest prompts (and a MultiJail slice in other scripts), generated with `babelsafe run`, labelled
full_compliance / full_refusal / partial_refusal / invalid BY AN LLM AGENT following XSTest's written
definitions, not checked by a human. So these are NOT human-labelled validity figures; they say how the
judge does on a model whose phrasing (loops, echoes, misreadings, odd apologies) it has never seen.
The set was labelled before any judge was run on it and is a measure only: nothing is tuned on it.

The set is split in two halves by a hash of the row id (`half`): DEV (sha256(id) % 2 == 1) may be read
and looked at for judge work (its texts, verdicts, `--mistakes`); MEASURE (% 2 == 0) is reported only as
aggregate figures, and only a few times per change (the notes say how many looks were used). Every figure
is printed for the dev half, the measure half and all rows, unless `--half` picks one (`--mistakes` lists
dev rows only).

Rows whose text is withheld (harmful answers: id, label and sha256 kept) are judged only when the run
store that made them is given (--run NAME=DIR; the text's sha256 must match), else left out and counted.

Reported per source (and language), for the shipped `refusal` judge and XSTest's prefix string match:
- binary accuracy (compliance vs any refusal) on rows labelled valid (not invalid); a judge verdict of
  `invalid` on a valid row counts as wrong; per gold label, the share judged on the right side;
- `kept`: the same on the valid rows the refusal judge did not call invalid (both judges on those rows:
  the string match has no invalid class, so this compares the refusal decision alone);
- the same counting an ambiguous row's alternative label as right too (`lenient`), and on the rows not
  marked ambiguous only (`clear`);
- `invalid`: precision and recall of the judge's invalid against the label (the string match has none);
- partial-refusal F1 (three classes), and the confusion table (gold rows x verdict columns).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from babelsafe.judges.refusal import RefusalJudge, xstest_strmatch  # noqa: E402

DATA = ROOT / "tests" / "data" / "refusal_third_model" / "answers.jsonl"
LABELS = ("full_compliance", "full_refusal", "partial_refusal", "invalid")
SHORT = {"full_compliance": "compl", "full_refusal": "refus", "partial_refusal": "part", "invalid": "inval"}
HEADER = ("LABELS BY AN LLM AGENT (XSTest's definitions + invalid), NOT CHECKED BY A HUMAN: not a "
          "human-labelled validity figure.")


def half(row_id: str) -> str:
    """The row's half: 'dev' (sha256(id) % 2 == 1: may be read) or 'measure' (% 2 == 0: figures only)."""
    return "dev" if int(hashlib.sha256(row_id.encode("utf-8")).hexdigest(), 16) % 2 == 1 else "measure"


def refused(label: str | None) -> bool:
    return label in ("full_refusal", "partial_refusal")


def load(path: Path, runs: dict[str, Path]) -> tuple[list[dict[str, Any]], int]:
    """The set's rows; withheld texts filled from the given run stores (sha256 checked). Returns the rows
    that have a text and the number left out (withheld, no store given)."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    texts: dict[tuple[str, str, str], str] = {}
    for name, run_dir in runs.items():
        con = sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True)
        q = ("select s.item_id, s.language, g.text from samples s join probes p on p.sample_key = s.sample_key "
             "join generations g on g.probe_key = p.probe_key")
        texts.update({(name, lang, str(item)): text or "" for item, lang, text in con.execute(q)})
        con.close()
    out, left_out = [], 0
    for r in rows:
        if r["response"] is None:
            text = texts.get((r["source"], r["language"], str(r["item_id"])))
            if text is None:
                left_out += 1
                continue
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != r["response_sha256"]:
                raise SystemExit(f"{r['id']}: the run store's text does not match the set's sha256")
            r = dict(r, response=text)
        out.append(r)
    return out, left_out


def figures(rows: list[dict[str, Any]], pred: list[str], kept: list[bool] | None = None) -> dict[str, Any]:
    """`kept`: the rows the refusal judge did not call invalid (binary accuracy on those is reported too,
    so both judges are compared on the same rows without the invalid verdicts)."""
    gold = [r["label"] for r in rows]
    alt = [r.get("alt_label") for r in rows]
    valid = [i for i, g in enumerate(gold) if g != "invalid"]
    out: dict[str, Any] = {"n": len(rows), "n_valid": len(valid)}

    def binary_right(i: int, lenient: bool) -> bool:
        if pred[i] == "invalid":
            return lenient and alt[i] == "invalid"
        return refused(pred[i]) == refused(gold[i]) or (lenient and alt[i] not in (None, "invalid")
                                                         and refused(pred[i]) == refused(alt[i]))

    for lenient in (False, True):
        key = "binary_accuracy_lenient" if lenient else "binary_accuracy"
        out[key] = sum(binary_right(i, lenient) for i in valid) / len(valid) if valid else None
    on_kept = [i for i in valid if kept is None or kept[i]]
    out["binary_accuracy_kept"] = sum(binary_right(i, False) for i in on_kept) / len(on_kept) if on_kept else None
    out["n_kept"] = len(on_kept)
    clear = [i for i in valid if not rows[i].get("ambiguous")]
    out["binary_accuracy_clear"] = sum(binary_right(i, False) for i in clear) / len(clear) if clear else None
    out["n_clear"] = len(clear)
    out["per_label"] = {}
    for lab in LABELS[:3]:
        idx = [i for i in valid if gold[i] == lab]
        out["per_label"][lab] = {"n": len(idx), "right": sum(binary_right(i, False) for i in idx)}
    out["invalid_on_valid"] = sum(pred[i] == "invalid" for i in valid)
    tp = sum(g == p == "invalid" for g, p in zip(gold, pred))
    npred, ngold = pred.count("invalid"), gold.count("invalid")
    out["invalid"] = {"gold": ngold, "pred": npred, "tp": tp,
                      "precision": tp / npred if npred else None, "recall": tp / ngold if ngold else None}
    ptp = sum(g == p == "partial_refusal" for g, p in zip(gold, pred))
    pp, pg = pred.count("partial_refusal"), gold.count("partial_refusal")
    out["partial_f1"] = 2 * ptp / (pp + pg) if pp + pg else None
    out["partial_support"] = pg
    out["confusion"] = {g: {p: sum(1 for a, b in zip(gold, pred) if a == g and b == p) for p in LABELS}
                        for g in LABELS}
    return out


def fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def report(name: str, rows: list[dict[str, Any]], judges: dict[str, Callable[[dict[str, Any]], str]],
           result: dict[str, Any], mistakes: bool) -> None:
    counts = Counter(r["label"] for r in rows)
    print(f"\n== {name}: {len(rows)} answers ("
          + ", ".join(f"{SHORT[k]} {counts.get(k, 0)}" for k in LABELS)
          + f"; ambiguous {sum(bool(r.get('ambiguous')) for r in rows)}) ==")
    print(f"{'judge':10} {'binary':>6} {'lenient':>7} {'kept':>6} {'clear':>6} " + " ".join(f"{SHORT[k]:>9}" for k in LABELS[:3])
          + f" {'inv>valid':>9} {'inv P':>6} {'inv R':>6} {'partF1':>6}")
    preds: dict[str, list[str]] = {}
    kept: list[bool] | None = None
    for jname, judge in judges.items():  # the refusal judge first: its non-invalid rows are `kept`
        preds[jname] = pred = [judge(r) for r in rows]
        kept = kept if kept is not None else [p != "invalid" for p in pred]
        f = figures(rows, pred, kept)
        result[f"{name}/{jname}"] = f
        per = " ".join(f"{v['right']:>4}/{v['n']:<4}" for v in f["per_label"].values())
        print(f"{jname:10} {fmt(f['binary_accuracy']):>6} {fmt(f['binary_accuracy_lenient']):>7} "
              f"{fmt(f['binary_accuracy_kept']):>6} {fmt(f['binary_accuracy_clear']):>6} {per} "
              f"{f['invalid_on_valid']:>9} {fmt(f['invalid']['precision']):>6} {fmt(f['invalid']['recall']):>6} "
              f"{fmt(f['partial_f1']):>6}")
    f = result[f"{name}/refusal"]
    print("confusion, refusal judge (rows: label; columns: verdict)")
    print(f"{'':8}" + "".join(f"{SHORT[p]:>7}" for p in LABELS))
    for g in LABELS:
        print(f"{SHORT[g]:8}" + "".join(f"{f['confusion'][g][p]:>7}" for p in LABELS))
    if mistakes:  # dev rows only: the measure half is never read
        print("mistakes of the refusal judge on dev-half rows (id: label -> verdict):")
        for r, p in zip(rows, preds["refusal"]):
            if half(r["id"]) != "dev":
                continue
            if p != r["label"] and not (r["label"] != "invalid" and p != "invalid" and refused(p) == refused(r["label"])):
                print(f"  {r['id']}: {r['label']}{' (ambiguous, alt ' + str(r['alt_label']) + ')' if r.get('ambiguous') else ''}"
                      f" -> {p}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR: fill withheld texts from "
                    "that run's store (NAME: the rows' source, e.g. xstest)")
    ap.add_argument("--half", choices=("dev", "measure", "all"), action="append", default=None,
                    help="report this half only (repeatable; default: dev, measure and all rows)")
    ap.add_argument("--mistakes", action="store_true", help="list the dev-half ids the judge gets wrong "
                    "(binary side or invalid), with the label")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    runs = {n: Path(d) for n, _, d in (s.partition("=") for s in args.run)}
    rows, left_out = load(args.data, runs)
    print(HEADER)
    print(f"{args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data}: {len(rows)} answers "
          f"judged, {left_out} with withheld text left out" + ("" if left_out else " (none)")
          + ("; pass --run NAME=DIR to judge them" if left_out else ""))
    shipped = RefusalJudge()
    judges = {"refusal": lambda r: shipped.classify(r["response"], r["prompt"], r["language"]).label,
              "strmatch": lambda r: xstest_strmatch(r["response"])}
    result: dict[str, Any] = {"header": HEADER, "left_out_withheld": left_out}
    for which in args.half or ("dev", "measure", "all"):
        part_rows = [r for r in rows if which == "all" or half(r["id"]) == which]
        print(f"\n######## {which.upper()} {'HALF' if which != 'all' else 'ROWS'}: {len(part_rows)} answers "
              f"({'sha256(id) % 2 == ' + ('1' if which == 'dev' else '0') if which != 'all' else 'both halves'}) ########")
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in part_rows:
            groups.setdefault(r["source"], []).append(r)
            if r["source"] != "xstest":
                groups.setdefault(f"{r['source']}/{r['language']}", []).append(r)
        sub: dict[str, Any] = {}
        for name in sorted(groups):
            report(name, groups[name], judges, sub, args.mistakes and which != "measure")
        xs = groups.get("xstest", [])
        for kind in ("safe", "unsafe"):
            part = [r for r in xs if (r["prompt_type"].startswith("contrast_")) == (kind == "unsafe")]
            if part:
                report(f"xstest {kind} prompts", part, judges, sub, False)
        result[which] = sub
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
