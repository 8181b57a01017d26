"""How the refusal judge's unrelated-output check (judges/relevance.py) does on real answers.

    python benchmarks/bench_unrelated.py [--mode on|strict]

1. Real answers: every row of ../shared/datasets/refusal_dev_xstest (900, two models) and of the parity
   set tests/data/judge_parity (19 languages x 305), judged with the check on and off: answers whose
   label changes (false `invalid`), per split (held-out = sha256(id) % 3 == 0).
2. The embedded model's answers, hand-labelled (tests/data/judge_unrelated): precision and recall of
   "unrelated" per split, same-language and cross-language answers apart; and how many of its bad
   answers (unrelated, echo, loop, nonsense) the judge calls `invalid` with the check and without it.
3. Real answers paired with another prompt of the same language (a different conversation): the share
   flagged among those the judge calls compliance, and English answers paired with their own prompt's
   translation (must stay 0: a cross-language answer is judged on its content).
"""
from __future__ import annotations

import collections
import hashlib
import argparse
import json
import random
from pathlib import Path

from babelsafe.judges.refusal import RefusalJudge

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "datasets" / "refusal_dev_xstest" / "responses.jsonl"


def split_of(row_id: str) -> str:
    return "holdout" if int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 3 == 0 else "dev"


def load(path: Path, **extra: str) -> list[dict]:
    return [dict(json.loads(line), **extra) for line in path.open(encoding="utf-8") if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="on", choices=("on", "strict"), help="the judge's unrelated= option")
    mode = ap.parse_args().mode
    on, off = RefusalJudge(unrelated=mode), RefusalJudge(unrelated=False)
    print(f"unrelated={mode}")
    real = load(DEV, language="en", src="xstest-900") if DEV.exists() else []
    for f in sorted((ROOT / "tests/data/judge_parity").glob("*.jsonl")):
        real += load(f, src="parity")
    changed: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    for r in real:
        key = (r["src"], split_of(r["id"]))
        total[key] += 1
        a = on.classify(r["response"], r["prompt"], r["language"])
        if a.label != off.classify(r["response"], r["prompt"], r["language"]).label:
            changed[key] += 1
            print(f"  false invalid: {r['src']} {r['language']} {r['id']}: {a.rationale}")
    print("== 1. real answers: label changed by the check (false invalid) ==")
    for key in sorted(total):
        print(f"{key[0]:11} {key[1]:8} {changed[key]:3} of {total[key]}")

    print("\n== 2. embedded model (SmolLM2-135M), hand-labelled ==")
    gen = load(ROOT / "tests/data/judge_unrelated/answers.jsonl")
    for split in ("dev", "holdout"):
        rows = [r for r in gen if r["split"] == split]
        for cross in (False, True):
            part = [r for r in rows if r["cross_language"] == cross]
            flagged = [r for r in part if on.classify(r["response"], r["prompt"], r["language"]).label == "invalid"
                       and off.classify(r["response"], r["prompt"], r["language"]).label != "invalid"]
            pos = [r for r in part if r["label"] == "unrelated"]
            tp = sum(r["label"] == "unrelated" for r in flagged)
            fp_related = sum(r["label"] == "related" for r in flagged)
            print(f"{split:8} {'cross-language' if cross else 'same language':15} n={len(part):3} unrelated={len(pos):3}"
                  f"  flagged by the check={len(flagged):2} (of them unrelated {tp}, related {fp_related},"
                  f" other bad {len(flagged) - tp - fp_related})  recall {tp / len(pos) if pos else float('nan'):.2f}")
        bad = [r for r in rows if r["label"] != "related"]
        n_on = sum(on.classify(r["response"], r["prompt"], r["language"]).label == "invalid" for r in bad)
        n_off = sum(off.classify(r["response"], r["prompt"], r["language"]).label == "invalid" for r in bad)
        print(f"{split:8} bad answers called invalid: {n_off} -> {n_on} of {len(bad)} (without -> with the check)")

    print("\n== 3. real answers with another prompt of the same language ==")
    rng = random.Random(1)
    by = collections.defaultdict(list)
    for r in real:
        by[r["language"]].append(r)
    hit: collections.Counter = collections.Counter()
    tot: collections.Counter = collections.Counter()
    for lang, rs in sorted(by.items()):
        for r in rs:
            o = rng.choice(rs)
            if o["id"] == r["id"] or off.classify(r["response"], o["prompt"], lang).label != "full_compliance":
                continue
            tot[lang] += 1
            hit[lang] += on.classify(r["response"], o["prompt"], lang).label == "invalid"
    print(" ".join(f"{lang} {hit[lang]}/{tot[lang]}" for lang in sorted(tot)))
    print(f"all: {sum(hit.values())} of {sum(tot.values())} = {sum(hit.values()) / max(1, sum(tot.values())):.3f}")
    en = {r["id"]: r for r in by["en"] if r["src"] == "parity"}
    n = flagged = 0
    for lang, rs in by.items():
        for r in rs:
            if lang != "en" and r["id"] in en:
                n += 1
                flagged += on.classify(en[r["id"]]["response"], r["prompt"], lang).label == "invalid"
    print(f"English answer to its prompt's translation, flagged: {flagged} of {n}")


if __name__ == "__main__":
    main()
