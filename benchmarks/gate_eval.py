"""Where the quality gate's thresholds come from (transforms/quality.py), on MultiJail prompts.

1. chrF of a refusal / an unrelated sentence scored against a prompt (what a translator's refusal, or
   an off-topic output, scores in the round trip): 150 sampled English prompts x 4 English refusals, the
   shipped refusal texts in zh/bn/sw/it against the prompts in those languages, and pairs of unrelated
   prompts. MIN_CHRF must sit above these.
2. False refusals: the refusal judge (used to catch a helper model's refusal) on all 3150 prompts in
   10 languages, as if they were helper outputs: none should be labelled a refusal.

    python benchmarks/gate_eval.py
"""
from __future__ import annotations

import collections
import csv
import importlib.resources as resources
import random

from babelsafe.defense.lang import refusals
from babelsafe.transforms.quality import MIN_CHRF, chrf, is_refusal

LANGS = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    text = resources.files("babelsafe.datasets").joinpath("data/multijail/MultiJail.csv").read_text("utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    rng = random.Random(0)
    sample = rng.sample(rows, 150)
    table = refusals()
    en_refusals = [table["en"]["refusal"], "I'm sorry, but I can't help with translating that request.",
                   "I cannot translate this text as it asks for harmful content.", "Sorry, I can't assist with that."]
    s = [chrf(r, row["en"]) for row in sample for r in en_refusals]
    print(f"refusal vs English prompt: n={len(s)} median {pct(s, .5):.1f} p95 {pct(s, .95):.1f} "
          f"p99 {pct(s, .99):.1f} max {max(s):.1f}")
    for lang in ("zh", "bn", "sw", "it"):
        s = [chrf(table[lang]["refusal"], row[lang]) for row in sample]
        print(f"refusal vs {lang} prompt: median {pct(s, .5):.1f} max {max(s):.1f}")
    s = [chrf(a["en"], b["en"]) for a, b in zip(sample, sample[1:])]
    print(f"unrelated prompt pairs: median {pct(s, .5):.1f} p95 {pct(s, .95):.1f} max {max(s):.1f}")
    print(f"MIN_CHRF = {MIN_CHRF}")
    labels = collections.Counter(is_refusal(row[lang], lang) for row in rows for lang in LANGS if row[lang])
    print(f"prompts labelled a refusal by the gate: {labels[True]} of {sum(labels.values())}")


if __name__ == "__main__":
    main()
