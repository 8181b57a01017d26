"""`longcontext`: the prompt placed before or after N tokens of benign filler documents (LongSafety)."""
from __future__ import annotations

import json
import math
import random
from typing import Any

from ..errors import UsageError
from ..types import Probe, stable_hash
from .base import check_choice, data_text, derive

TOKENS_PER_WORD = 4 / 3  # rough English average for BPE tokenizers


def approx_tokens(text: str) -> int:
    """Token estimate: max(words x 4/3, characters / 4) — cheap, tokenizer-free, deterministic."""
    return max(math.ceil(len(text.split()) * TOKENS_PER_WORD), math.ceil(len(text) / 4))


def filler_documents() -> list[dict[str, str]]:
    return [json.loads(line) for line in data_text("filler/longcontext_filler.jsonl").splitlines() if line.strip()]


def _estimate(words: int, chars: int) -> int:
    return max(math.ceil(words * TOKENS_PER_WORD), math.ceil(chars / 4))


def build_filler(tokens: int, rng: random.Random) -> tuple[str, list[str]]:
    """Documents in seeded order (reshuffled on every pass through the corpus) until the text's
    estimate reaches `tokens` without exceeding it; the last document is cut at a word boundary.
    Returns (text, ids of the documents used)."""
    docs = filler_documents()
    parts: list[str] = []
    ids: list[str] = []
    words = chars = 0  # running totals of the joined text ("\n\n" between parts)
    n = 0
    while True:
        order = docs[:]
        rng.shuffle(order)
        for d in order:
            n += 1
            sep = 2 if parts else 0
            full = f"Document {n}: {d['title']}\n{d['text']}"
            fw, fc = len(full.split()), len(full)
            if _estimate(words + fw, chars + sep + fc) <= tokens:
                parts.append(full)
                ids.append(d["id"])
                words, chars = words + fw, chars + sep + fc
                continue
            # cut this document: the longest word prefix that fits
            pieces = full.split(" ")
            lo, hi = 0, len(pieces)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                cut = " ".join(pieces[:mid])
                if _estimate(words + len(cut.split()), chars + sep + len(cut)) <= tokens:
                    lo = mid
                else:
                    hi = mid - 1
            if lo > 0:
                parts.append(" ".join(pieces[:lo]))
                ids.append(d["id"])
            return "\n\n".join(parts), ids


class LongContext:
    """Long-context dilution (LongSafety): the prompt placed before or after N tokens of benign filler documents.

    Options: `tokens` (approximate filler length, default 2000; estimated as max(words x 4/3, chars / 4)),
    `position` = after (default: documents first, then the prompt) | before (prompt first) — LongSafety
    evaluates both —, `seed` (default: the run seed). Deterministic for a given seed and sample. The
    filler is babelsafe's own harmless corpus (transforms/data/filler), cycled when N exceeds it.
    """

    name = "longcontext"
    decodes = False  # no decode(): answers are judged as written
    source = "LongSafety: Lu et al., Evaluating Long-Context Safety of LLMs, ACL 2025 (arXiv:2502.16971)"
    languages = "any"
    license = "Apache-2.0 (babelsafe's own filler documents, see data/filler/SOURCE.md)"

    def __init__(self, tokens: int = 2000, position: str = "after", seed: int | None = None, ctx: Any = None):
        self.tokens = int(tokens)
        if self.tokens < 1:
            raise UsageError(f"longcontext: tokens must be >= 1, got {tokens}.")
        self.position = check_choice("position", position, ("before", "after"))
        self.seed = seed

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        seed = self.seed if self.seed is not None else getattr(ctx, "seed", 0)
        rng = random.Random(stable_hash([seed, probe.sample.key, self.tokens]))
        filler, ids = build_filler(self.tokens, rng)
        prompt = probe.prompt_text
        if self.position == "after":
            text = f"{filler}\n\n{prompt}"
        else:
            text = f"{prompt}\n\n{filler}"
        params = {"tokens": self.tokens, "position": self.position, "seed": seed,
                  "filler_tokens": approx_tokens(filler), "documents": ids}
        return [derive(probe, self.name, params, text)]
