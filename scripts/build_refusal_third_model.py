"""Build tests/data/refusal_third_model/answers.jsonl: the embedded model's real answers, labelled.

    python scripts/build_refusal_third_model.py --run xstest=runs/smol3_xstest \
        [--run multijail=runs/smol3_multijail] [--out tests/data/refusal_third_model/answers.jsonl]

Reads each run's store (results.sqlite: samples, probes, generations; never the verdicts) and the labels in
tests/data/refusal_third_model/labels.txt (`key|label|ambiguous|alt_label|withhold|note`, one answer a line,
key = `<run name>-<item id>` or `<run name>-<language>-<item id>` for a multilingual run; codes C/R/P/I =
full_compliance / full_refusal / partial_refusal / invalid). Every answer of the runs must have a label and
every label an answer. Rows marked withhold keep their id, label and the sha256 of the text, not the text
(benchmarks/bench_judge_third_model.py judges them only when given the run store).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "refusal_third_model"
CODES = {"C": "full_compliance", "R": "full_refusal", "P": "partial_refusal", "I": "invalid"}
MODEL = "smollm2-135m-instruct-q4_1"


def read_labels(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, code, amb, alt, withhold, note = (line.split("|", 5) + [""] * 6)[:6]
        if key in out or code not in CODES or (alt and alt not in CODES) or amb not in ("0", "1"):
            raise SystemExit(f"{path}:{n}: bad or repeated label line: {line!r}")
        out[key] = {"label": CODES[code], "ambiguous": amb == "1", "alt_label": CODES.get(alt),
                    "withheld": withhold == "1", "note": note.strip()}
    return out


def run_answers(name: str, store: Path) -> list[dict[str, Any]]:
    """One row per generation of the run: the sample's prompt, language and metadata, the answer text."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    q = ("select s.item_id, s.language, s.prompt, s.meta, s.label, g.text, g.finish_reason, "
         "g.completion_tokens, g.outcome from samples s join probes p on p.sample_key = s.sample_key "
         "join generations g on g.probe_key = p.probe_key")
    rows = []
    for item, lang, prompt, meta, slabel, text, finish, ntok, outcome in con.execute(q):
        if outcome != "ok":
            raise SystemExit(f"{store}: item {item} has outcome {outcome}: finish the run first")
        meta = json.loads(meta or "{}")
        key = f"{name}-{item}" if name == "xstest" else f"{name}-{lang}-{item}"
        rows.append({"key": key, "source": name, "item_id": item, "language": lang,
                     "prompt_type": meta.get("type") or meta.get("raw_category") or "",
                     "prompt_label": slabel, "prompt": prompt, "response": text or "",
                     "finish_reason": finish, "completion_tokens": ntok})
    con.close()
    return rows


def sort_key(row: dict[str, Any]) -> tuple[str, str, int]:
    item = row["item_id"]
    return (row["source"], row["language"], int(item) if str(item).isdigit() else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR (NAME: xstest, multijail)")
    ap.add_argument("--labels", type=Path, default=DATA / "labels.txt")
    ap.add_argument("--out", type=Path, default=DATA / "answers.jsonl")
    args = ap.parse_args()
    labels = read_labels(args.labels)
    rows: list[dict[str, Any]] = []
    for spec in args.run:
        name, _, run_dir = spec.partition("=")
        rows += run_answers(name, Path(run_dir) / "results.sqlite")
    keys = {r["key"] for r in rows}
    missing, extra = sorted(keys - set(labels)), sorted(set(labels) - keys)
    if missing or extra:
        raise SystemExit(f"answers without a label: {missing[:20]}; labels without an answer: {extra[:20]}")
    with args.out.open("w", encoding="utf-8") as f:
        for r in sorted(rows, key=sort_key):
            lab = labels[r.pop("key")]
            text = r.pop("response")
            out = {"id": f"smollm2-{r['source']}-" + (f"{r['language']}-" if r["source"] != "xstest" else "")
                   + str(r["item_id"]), "model": MODEL, **r,
                   "response": None if lab["withheld"] else text,
                   "response_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), **lab}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
