"""Fit the confidence of the refusal judge's `invalid` verdicts per rule family, on dev rows only; write
src/babelsafe/judges/data/invalid_confidence.json.

    python scripts/fit_invalid_confidence.py [--sources human,real,agent] [--out PATH] [--print]

Each labelled dev row is judged by the shipped refusal judge (default options); every `invalid` verdict
counts for its rule family (judges/invalid_confidence.family), right or wrong:
- human: tests/data/judge_unrelated, `split` dev (SmolLM2's answers to mild prompts, labelled by hand):
  right when the label is a bad one (unrelated, nonsense, echo, degenerate), wrong when `related`;
- real: the real-model dev rows the judge is trained on (../shared/datasets/refusal_dev_xstest dev split
  and the parity set's dev translations): all labelled valid, so an `invalid` call there is wrong;
- agent: tests/data/refusal_third_model, DEV half only (sha256(id) % 2 == 1; labels by an LLM agent, not
  a human): right when the label is `invalid`. Its MEASURE half is never read here.
A family's confidence is (right + 1) / (n + 2) over the sources used; with fewer than MIN_ROWS calls it
is PRIOR (conservative: the constant these rules carried before, never above it). Held-out rows of
judge_unrelated are never read. Labels and rationales do not depend on this file, so refitting it
never moves a verdict's label.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from babelsafe.judges.invalid_confidence import DEFINITIONAL, family  # noqa: E402
from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from train_refusal_judge import PARITY, XSTEST, dev_rows  # noqa: E402

OUT = ROOT / "src/babelsafe/judges/data/invalid_confidence.json"
UNRELATED = ROOT / "tests/data/judge_unrelated/answers.jsonl"
THIRD = ROOT / "tests/data/refusal_third_model/answers.jsonl"
SOURCES = ("human", "real", "agent")
MIN_ROWS = 5  # fewer dev calls than this: the family keeps PRIOR
PRIOR = 0.9  # the constant of the heuristic rules before (near echo, unrelated, garbled)
DEFINITIONAL_CONFIDENCE = 0.99  # empty / no words: invalid by the label's definition
BAD = {"unrelated", "nonsense", "echo", "degenerate"}  # judge_unrelated labels an invalid call gets right


def third_half(row_id: str) -> str:
    """The third-model set's half (benchmarks/bench_judge_third_model.half): 'dev' or 'measure'."""
    return "dev" if int(hashlib.sha256(row_id.encode("utf-8")).hexdigest(), 16) % 2 == 1 else "measure"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def labelled(source: str) -> list[tuple[dict[str, Any], bool]]:
    """(row, an invalid call on it is right) for one source's dev rows."""
    if source == "human":
        return [(r, r["label"] in BAD) for r in load_jsonl(UNRELATED) if r["split"] == "dev"]
    if source == "real":
        return [(r, r["label"] == "invalid") for r in dev_rows(XSTEST, PARITY)]
    if source == "agent":
        return [(r, r["label"] == "invalid") for r in load_jsonl(THIRD)
                if third_half(r["id"]) == "dev" and r["response"] is not None]
    raise SystemExit(f"unknown source {source!r}: use {', '.join(SOURCES)}")


def count(sources: list[str], rows: Counter[str]) -> dict[str, dict[str, list[int]]]:
    """family -> source -> [right, n] over the `invalid` verdicts of the sources' dev rows (`rows`: the
    rows read per source)."""
    judge = RefusalJudge()
    out: dict[str, dict[str, list[int]]] = {}
    for src in sources:
        for r, right in labelled(src):
            rows[src] += 1
            v = judge.classify(r["response"], r["prompt"], r.get("language", "en"))
            if v.label != "invalid":
                continue
            c = out.setdefault(family(v.rationale or ""), {}).setdefault(src, [0, 0])
            c[0] += int(right)
            c[1] += 1
    return out


def fit(sources: list[str]) -> dict[str, Any]:
    rows: Counter[str] = Counter()
    counts = count(sources, rows)
    calls = Counter({s: 0 for s in sources})
    families: dict[str, Any] = {}
    for name in sorted(counts):
        if name in DEFINITIONAL:
            continue
        right = sum(c[0] for c in counts[name].values())
        n = sum(c[1] for c in counts[name].values())
        for s, c in counts[name].items():
            calls[s] += c[1]
        enough = n >= MIN_ROWS
        families[name] = {"right": right, "n": n,
                          "by_source": {s: counts[name][s] for s in sources if s in counts[name]},
                          "confidence": round((right + 1) / (n + 2), 4) if enough else PRIOR,
                          "basis": "(right + 1) / (n + 2)" if enough else f"prior: under {MIN_ROWS} dev calls"}
    return {"about": "confidence of the refusal judge's invalid verdicts per rule family "
                     "(judges/invalid_confidence.py); dev rows only",
            "script": "scripts/fit_invalid_confidence.py", "sources": sources,
            "dev_rows": dict(rows), "invalid_calls": dict(calls), "min_rows": MIN_ROWS, "prior": PRIOR,
            "definitional": DEFINITIONAL_CONFIDENCE, "families": families}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma list of {', '.join(SOURCES)}")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--print", action="store_true", help="print the table instead of writing it")
    args = ap.parse_args()
    table = fit([s.strip() for s in args.sources.split(",") if s.strip()])
    text = json.dumps(table, indent=1, ensure_ascii=False) + "\n"
    if args.print:
        print(text, end="")
        return
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v['right']}/{v['n']} -> {v['confidence']}"
                                            for k, v in table["families"].items()))


if __name__ == "__main__":
    main()
