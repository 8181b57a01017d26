"""Language-ID accuracy of babelsafe.text.detect on MultiJail (10 languages) and XSafety (10 languages).

Modes: none (no prior); run (prior = the dataset's languages, as `-l` would give); probe (the item's true
language first, then the run's: what defense layers get inside runs); en,zh,bn (a run over three languages,
texts from the others included, so errors there are expected). Items are split by crc32 of the item id:
dev (even; the thresholds in babelsafe.text were chosen on it) and held (odd). Usage:

    python benchmarks/langid_eval.py [MIN_CONFIDENCE] [--errors]
"""
from __future__ import annotations

import collections
import csv
import gzip
import importlib.resources as resources
import json
import sys
import time
import zlib

from babelsafe import text

MJ_LANGS = ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]


def rows() -> list[tuple[str, str, str, str]]:
    data = resources.files("babelsafe.datasets").joinpath("data")
    out = []
    for row in csv.DictReader(data.joinpath("multijail/MultiJail.csv").read_text("utf-8-sig").splitlines()):
        out.extend(("mj", row["id"], lang, row[lang]) for lang in MJ_LANGS if row[lang])
    with gzip.open(data.joinpath("xsafety/xsafety_prompts.jsonl.gz").open("rb"), "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d.get("prompt"):
                out.append(("xs", f"{d['category']}:{d['idx']}", d["lang"], d["prompt"]))
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    thr = float(args[0]) if args else text.MIN_CONFIDENCE
    data = rows()
    run = {"mj": MJ_LANGS, "xs": sorted({r[2] for r in data if r[0] == "xs"})}
    res: dict[tuple[str, str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    errors: collections.Counter = collections.Counter()
    t0 = time.perf_counter()
    for ds, item, lang, prompt in data:
        part = "dev" if zlib.crc32(f"{ds}:{item}".encode()) % 2 == 0 else "held"
        for mode, prior in (("none", None), ("run", run[ds]), ("probe", [lang] + run[ds]),
                            ("en,zh,bn", ["en", "zh", "bn"])):
            d = text.detect(prompt, prior, min_confidence=thr)
            ok = d.language in text.ACCEPTABLE.get(lang, {lang})
            res[(part, ds, mode)]["ok" if ok else "und" if d.language == "und" else "wrong"] += 1
            if not ok:
                errors[(mode, lang, d.language, d.method)] += 1
    for key in sorted(res):
        c = res[key]
        n = sum(c.values())
        print(f"{key[0]:5} {key[1]} {key[2]:9} n={n:5} identified={c['ok'] / n:.3f} und={c['und'] / n:.3f} "
              f"wrong={c['wrong'] / n:.3f}")
    print(f"{time.perf_counter() - t0:.1f}s, min_confidence={thr}")
    if "--errors" in sys.argv:
        for k, v in errors.most_common(25):
            print(k, v)


if __name__ == "__main__":
    main()
