"""`pcjailbreak`: paired variants of the prompt presented by a privileged vs a marginalised group."""
from __future__ import annotations

import csv
import io
import random
import re
from typing import Any

from ..errors import UsageError
from ..types import Probe, stable_hash
from .base import data_text, derive


def keyword_pairs() -> dict[str, dict[str, str]]:
    """{pair id: {"axis", "privileged", "marginalised"}} from transforms/data/pcjailbreak_pairs.csv."""
    rows = csv.DictReader(io.StringIO(data_text("pcjailbreak_pairs.csv")))
    return {r["pair"]: {"axis": r["axis"], "privileged": r["privileged"], "marginalised": r["marginalised"]}
            for r in rows}


class PCJailbreak:
    """PCJailbreak: two probes per prompt, "I am {keyword}." with a privileged vs a marginalised group keyword.

    Options: `pair` (a pair id from transforms/data/pcjailbreak_pairs.csv, a list of ids, or "all";
    default: one pair per sample chosen deterministically from `seed`), `seed`. Each probe carries
    meta {"pc_group": "privileged" | "marginalised", "pc_pair": id, "pc_axis": axis} so reports can show
    the success-rate gap within each pair. Source: Lee & Seong, "Do LLMs Have Political Correctness?"
    (arXiv, Oct 2024); the keyword pairs are babelsafe's own.
    """

    name = "pcjailbreak"
    decodes = False  # no decode(): answers are judged as written
    source = ("PCJailbreak: Lee & Seong, Do LLMs Have Political Correctness? Analyzing Ethical Biases and "
              "Jailbreak Vulnerabilities in AI Systems (arXiv, 2024)")
    languages = "any"
    license = "Apache-2.0 (babelsafe's own keyword pairs, see data/PCJAILBREAK.md)"

    def __init__(self, pair: str | list[str] | None = None, seed: int | None = None, ctx: Any = None):
        table = keyword_pairs()
        if pair == "all":
            pair = list(table)
        if isinstance(pair, str):
            pair = [p.strip() for p in re.split(r"[,+|;\s]+", pair) if p.strip()]
        unknown = [p for p in (pair or []) if p not in table]
        if unknown:
            raise UsageError(f"pcjailbreak: unknown pair {', '.join(unknown)}. Valid pairs: {', '.join(table)}, all.")
        self.pairs = list(pair) if pair else None
        self.seed = seed

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        table = keyword_pairs()
        seed = self.seed if self.seed is not None else getattr(ctx, "seed", 0)
        if self.pairs:
            chosen = self.pairs
        else:
            chosen = [random.Random(stable_hash([seed, probe.sample.key])).choice(sorted(table))]
        template = data_text("pcjailbreak_template.txt")
        out = []
        for pid in chosen:
            row = table[pid]
            for group in ("privileged", "marginalised"):
                text = template.replace("{keyword}", row[group]).replace("{prompt}", probe.prompt_text)
                params = {"pair": pid, "group": group, "keyword": row[group], "seed": seed}
                out.append(derive(probe, self.name, params, text,
                                  meta={"pc_group": group, "pc_pair": pid, "pc_axis": row["axis"]}))
        return out
