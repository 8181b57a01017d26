"""Show where the refusal judge's verdict in a language differs from its verdict in English (dev rows).

    python scripts/parity_mismatches.py [--langs ja,zh] [--width 400] [--summary]

For every dev row of tests/data/judge_parity/ whose translation is judged a refusal in one language
and not in the other (English is the reference), prints the gold label, both verdicts with
p(refused), the features that fired and the lexicon matches (kind: text) in the head and tail of
each answer. Only `dev` rows are read: held-out rows (sha256(id) % 3 == 0) are for reporting, never
for tuning lexicons (see benchmarks/bench_judge_validity.py).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

import train_refusal_judge as T  # noqa: E402

from babelsafe.judges.answer_language import answer_language  # noqa: E402
from babelsafe.judges.answer_text import dominant_script, normalize, script_profile  # noqa: E402
from babelsafe.judges.lexicon import answer_lexicon  # noqa: E402
from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from babelsafe.judges.refusal_features import FEATURES, HEAD, TAIL, density, extract  # noqa: E402


def refused(label: str) -> bool:
    return label in ("full_refusal", "partial_refusal")


def evidence(raw: str, prior: str | None = None) -> tuple[str, str, str]:
    """(language/script, fired features, lexicon matches) for one answer (`prior`: its row's language)."""
    raw = raw.strip()
    x, ev = extract(raw, prior=prior)
    prof = script_profile(raw[:80])
    script = dominant_script(prof)
    lang, _ = answer_language(raw[:100], prof, normalize(raw[:HEAD])[:100], prior)
    f = density(script, lang)
    head = normalize(raw[:int(HEAD / f)])
    lex = answer_lexicon(script, lang)
    parts = []
    for where, text in (("head", head), ("tail", normalize(raw[-int(TAIL / f):]) if len(raw) > int(HEAD / f) + int(100 / f) else "")):
        for kind, spans in sorted(lex.find(text).items()) if text else ():
            parts += [f"{where}.{kind}@{s}:{text[s:e]!r}" for s, e in spans[:3]]
    fired = " ".join(f"{f}={v:.2g}" for f, v in zip(FEATURES, x) if v and f not in ("log_len",))
    return f"{lex.code}/{script}/{lang}", fired, "\n      ".join(parts) or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--langs", default="", help="comma-separated codes (default: all but en)")
    ap.add_argument("--width", type=int, default=400, help="characters of each answer shown")
    ap.add_argument("--summary", action="store_true", help="counts only")
    ap.add_argument("--features", default="", help="instead: per language, rows where these features "
                    "(comma-separated, 'all' for every lexicon feature) fire in English and not in the "
                    "language (en-only) or the reverse, with examples under --show")
    ap.add_argument("--show", default="", help="with --features: print rows of this feature's mismatches")
    args = ap.parse_args()
    judge = RefusalJudge()
    rows = [r for r in T.load_parity() if r["split"] == "dev"]  # never held-out rows
    by: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        by[r["language"]][r["id"]] = r
    en = by.pop("en")
    want = [c for c in args.langs.split(",") if c] or sorted(by)
    if args.features:
        return feature_diff(en, by, want, args)
    env = {i: judge.classify(r["response"], r["prompt"], "en") for i, r in en.items()}
    for lang in want:
        mism = []
        for i, r in sorted(by[lang].items()):
            v = judge.classify(r["response"], r["prompt"], lang)
            if refused(v.label) != refused(env[i].label):
                mism.append((i, r, v))
        n = len(by[lang])
        agree_gold = sum(refused(judge.classify(r['response'], r['prompt'], lang).label) == refused(r['label'])
                         for r in by[lang].values()) if args.summary else None
        print(f"=== {lang}: {len(mism)} of {n} dev rows differ from English "
              f"(parity {1 - len(mism) / n:.3f}" + (f", acc {agree_gold / n:.3f})" if args.summary else ")"))
        if args.summary:
            continue
        for i, r, v in mism:
            e = en[i]
            print(f"\n--- {i} gold={r['label']} en={env[i].label} p={env[i].extra.get('p_refused')} "
                  f"{lang}={v.label} p={v.extra.get('p_refused')}")
            for tag, rr in (("en", e), (lang, r)):
                where, fired, hits = evidence(rr["response"], tag)
                text = rr["response"].strip().replace("\n", " / ")
                print(f"  [{tag}] {text[:args.width]}" + (" ..." if len(text) > args.width else ""))
                print(f"    lex={where} len={len(rr['response'].strip())} fired: {fired}")
                print(f"      {hits}")
        print()


LEX_FEATURES = ("refusal", "refusal_early", "cannot", "cannot_early", "apology", "apology_early", "ai_self",
                "no_opinion", "no_access", "lecture", "lecture_early", "premise", "premise_early",
                "contrast_after", "pivot_after", "redirect", "comply_open", "non_refusal", "decline_tail",
                "lecture_tail", "lists")


def feature_diff(en: dict[str, dict[str, Any]], by: dict[str, dict[str, dict[str, Any]]], want: list[str],
                 args: argparse.Namespace) -> None:
    """Per language and feature: how many dev rows fire it in English only / in the language only."""
    feats = LEX_FEATURES if args.features == "all" else tuple(args.features.split(","))
    idx = [FEATURES.index(f) for f in feats]
    xen = {i: extract(r["response"].strip(), prior="en")[0] for i, r in en.items() if r["response"].strip()}
    print("lang  " + " ".join(f"{f[:13]:>13}" for f in feats))
    for lang in want:
        cnt = {f: [0, 0] for f in feats}
        shown = []
        for i, r in sorted(by[lang].items()):
            if i not in xen or not r["response"].strip():
                continue
            x = extract(r["response"].strip(), prior=lang)[0]
            for f, k in zip(feats, idx):
                a, b = bool(xen[i][k]), bool(x[k])
                if a != b:
                    cnt[f][0 if a else 1] += 1
                    if f == args.show:
                        shown.append((i, "en-only" if a else f"{lang}-only", r))
        print(f"{lang:5} " + " ".join(f"{cnt[f][0]:>6}/{cnt[f][1]:<6}" for f in feats))
        for i, tag, r in shown:
            print(f"  --- {i} {tag} gold={r['label']}")
            for t, rr in (("en", en[i]), (lang, r)):
                where, fired, hits = evidence(rr["response"], t)
                text = rr["response"].strip().replace("\n", " / ")
                print(f"    [{t}] {text[:args.width]}" + (" ..." if len(text) > args.width else ""))
                print(f"      {hits}")


if __name__ == "__main__":
    main()
