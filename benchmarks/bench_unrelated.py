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
4. The near-echo check (answer_text.near_echo), on vs off (`near_echo=off`): false `invalid` on the real
   answers of 1., and on the hand-labelled answers per split: what it flags (precision against the
   `echo` label), echoes called invalid without/with it (recall), and the `nonsense` answers invalid.
5. The garbled-text check (judges/garble.py), on vs off (`garble=off`): false `invalid` on the real
   answers of 1.; on the hand-labelled answers per split and per script: recall of `nonsense`, what it
   flags (precision: flagged rows labelled nonsense, and any bad label), and all bad answers invalid.
   `--split dev` reports the dev rows only (for tuning; held-out rows are looked at rarely).
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
    ap.add_argument("--section", type=int, default=0, help="run only this section (5: garbled text)")
    ap.add_argument("--split", default="both", choices=("dev", "both"), help="hand-labelled rows reported")
    args = ap.parse_args()
    mode = args.mode
    on, off = RefusalJudge(unrelated=mode), RefusalJudge(unrelated=False)
    print(f"unrelated={mode}")
    real = load(DEV, language="en", src="xstest-900") if DEV.exists() else []
    for f in sorted((ROOT / "tests/data/judge_parity").glob("*.jsonl")):
        real += load(f, src="parity")
    if args.section == 5:
        gen = load(ROOT / "tests/data/judge_unrelated/answers.jsonl")
        garble_section(real, gen, mode, ("dev",) if args.split == "dev" else ("dev", "holdout"))
        return
    print("== 1. real answers: label changed by the check (false invalid) ==")
    false_invalid(real, on, off)

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
    near_echo_section(real, gen, mode)
    garble_section(real, gen, mode, ("dev",) if args.split == "dev" else ("dev", "holdout"))


def false_invalid(real: list[dict], on: RefusalJudge, off: RefusalJudge, prefix: str = "") -> None:
    """Print the real answers whose label the check changes (each a false `invalid`: real answers are
    never bad output), then their count per source and split."""
    changed: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    for r in real:
        key = (r["src"], split_of(r["id"]))
        total[key] += 1
        a = on.classify(r["response"], r["prompt"], r["language"])
        if a.label != off.classify(r["response"], r["prompt"], r["language"]).label:
            changed[key] += 1
            print(f"  false invalid: {r['src']} {r['language']} {r['id']}: {a.rationale}")
    for key in sorted(total):
        print(f"{key[0]:11} {key[1]:8} {prefix}{changed[key]:3} of {total[key]}")


def near_echo_section(real: list[dict], gen: list[dict], mode: str) -> None:
    on, exact = RefusalJudge(unrelated=mode), RefusalJudge(unrelated=mode, near_echo=False)

    def label(j: RefusalJudge, r: dict) -> str:
        return j.classify(r["response"], r["prompt"], r["language"]).label

    print("\n== 4. near-echo check (answer_text.near_echo), on vs off ==")
    false_invalid(real, on, exact, "false invalid ")
    for split in ("dev", "holdout"):
        rows = [r for r in gen if r["split"] == split]
        flagged = [r for r in rows if on.classify(r["response"], r["prompt"], r["language"]).rationale
                   == "echoes the prompt"]
        hit = collections.Counter(r["label"] for r in flagged)
        echoes = [r for r in rows if r["label"] == "echo"]
        nonsense = [r for r in rows if r["label"] == "nonsense"]
        print(f"{split:8} flagged {len(flagged)} ({dict(hit)}), precision {hit['echo'] / max(1, len(flagged)):.2f};"
              f" echoes invalid {sum(label(exact, r) == 'invalid' for r in echoes)} -> "
              f"{sum(label(on, r) == 'invalid' for r in echoes)} of {len(echoes)};"
              f" nonsense invalid {sum(label(exact, r) == 'invalid' for r in nonsense)} -> "
              f"{sum(label(on, r) == 'invalid' for r in nonsense)} of {len(nonsense)}")


def garble_section(real: list[dict], gen: list[dict], mode: str, splits: tuple[str, ...]) -> None:
    on, off = RefusalJudge(unrelated=mode), RefusalJudge(unrelated=mode, garble=False)

    def verdict(j: RefusalJudge, r: dict):
        return j.classify(r["response"], r["prompt"], r["language"])

    print("\n== 5. garbled-text check (judges/garble.py), on vs off ==")
    false_invalid(real, on, off, "false invalid ")
    for split in splits:
        rows = [r for r in gen if r["split"] == split]
        by_script: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for r in rows:
            v_on, v_off = verdict(on, r), verdict(off, r)
            flagged = v_on.label == "invalid" and v_off.label != "invalid"
            c = by_script[v_on.extra.get("answer_script") or "-"]
            c["n"] += 1
            c["nonsense"] += r["label"] == "nonsense"
            c["hit"] += flagged and r["label"] == "nonsense"
            c["flagged"] += flagged
            c["flagged_bad"] += flagged and r["label"] != "related"
            c["bad"] += r["label"] != "related"
            c["bad_off"] += r["label"] != "related" and v_off.label == "invalid"
            c["bad_on"] += r["label"] != "related" and v_on.label == "invalid"
        print(f"{split}: script      n nonsense  recall   flagged (nonsense / any bad label)   bad invalid off -> on")
        for script, c in sorted(by_script.items()) + [("all", sum(by_script.values(), collections.Counter()))]:
            rec = f"{c['hit'] / c['nonsense']:.2f}" if c["nonsense"] else "  - "
            print(f"  {script:14} {c['n']:3} {c['nonsense']:8}  {c['hit']:2} {rec}   {c['flagged']:3} ({c['hit']} / "
                  f"{c['flagged_bad']})                    {c['bad_off']:3} -> {c['bad_on']:3} of {c['bad']}")


if __name__ == "__main__":
    main()
