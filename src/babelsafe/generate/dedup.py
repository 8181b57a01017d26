"""Near-duplicate removal: character n-gram MinHash with LSH banding, in pure Python.

Each text becomes the set of its character n-grams (lower-cased, whitespace collapsed); MinHash
signatures estimate the Jaccard similarity of two sets; LSH bands find candidate pairs without comparing
every pair; a candidate is a duplicate when its estimated Jaccard similarity is >= the threshold.
"""
from __future__ import annotations

import hashlib
import random
import re
import struct
from typing import Iterable

_MERSENNE = (1 << 61) - 1
_MAX = (1 << 32) - 1


def shingles(text: str, n: int = 5) -> set[int]:
    """Hashed character n-grams of a normalised text (the text itself when shorter than n)."""
    t = re.sub(r"\s+", " ", text.lower()).strip()
    grams = {t[i:i + n] for i in range(max(1, len(t) - n + 1))}
    return {struct.unpack("<I", hashlib.blake2b(g.encode(), digest_size=4).digest())[0] for g in grams}


def jaccard(a: str, b: str, n: int = 5) -> float:
    """The exact Jaccard similarity of two texts' n-gram sets."""
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


class MinHasher:
    """MinHash signatures with `perms` universal hash functions (seeded, so stable across runs)."""

    def __init__(self, perms: int = 128, seed: int = 1, n: int = 5):
        rng = random.Random(seed)
        self.n = n
        self.params = [(rng.randrange(1, _MERSENNE), rng.randrange(0, _MERSENNE)) for _ in range(perms)]

    def signature(self, text: str) -> list[int]:
        sh = shingles(text, self.n)
        return [min(((a * h + b) % _MERSENNE) & _MAX for h in sh) for a, b in self.params]

    @staticmethod
    def similarity(s1: list[int], s2: list[int]) -> float:
        """Estimated Jaccard similarity: the share of equal signature positions."""
        return sum(x == y for x, y in zip(s1, s2)) / len(s1)


def near_duplicates(texts: Iterable[str], threshold: float = 0.8, perms: int = 128, bands: int = 32,
                    n: int = 5) -> dict[int, tuple[int, float]]:
    """index -> (index of the earlier text it duplicates, estimated similarity), for every text whose
    estimated Jaccard similarity to an earlier kept text is >= threshold. The first of a group is kept."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    mh = MinHasher(perms, n=n)
    rows = perms // bands
    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    sigs: list[list[int]] = []
    dups: dict[int, tuple[int, float]] = {}
    for i, text in enumerate(texts):
        sig = mh.signature(text)
        sigs.append(sig)
        keys = [(b, tuple(sig[b * rows:(b + 1) * rows])) for b in range(bands)]
        cands = {j for k in keys for j in buckets.get(k, ())}
        best = max(((MinHasher.similarity(sig, sigs[j]), j) for j in cands), default=(0.0, -1))
        if best[0] >= threshold:
            dups[i] = (best[1], round(best[0], 4))
            continue  # a duplicate is not indexed: later texts are compared with kept ones only
        for k in keys:
            buckets.setdefault(k, []).append(i)
    return dups
