"""`adaptive`: MultiJail's multilingual adaptive attack — the prompt in every language of a pool."""
from __future__ import annotations

import asyncio
from typing import Any

from ..errors import UsageError
from ..types import Probe
from ._model import lang_list
from .translate import MIN_CHRF, Translate

MULTIJAIL_POOL = ["zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]


class Adaptive:
    """Multilingual adaptive attack (MultiJail): one probe per language of a pool; success if any language is unsafe.

    Options: `pool` (language codes, default MultiJail's nine non-English languages, tried in that order
    as ranks 0..n-1), `target` / `prefer_human` / `min_chrf` / `on_low` as for `translate` (human
    translations from sample.meta["translations"] are used when present). Each probe carries meta
    {"adaptive_pool": [...], "adaptive_rank": i}. The transform produces every probe; "stopping at the
    first unsafe answer" is a metric: adaptive success = any language of the pool judged unsafe, and
    attempts = rank of the first unsafe language + 1 (or the pool size) — computed from the store.
    """

    name = "adaptive"
    decodes = False  # no decode(): answers are judged as written
    source = "MultiJail: Deng et al., ICLR 2024 (arXiv:2310.06474), Sec. 4 / Table 2, multilingual adaptive attack"
    languages = "any"
    license = "Apache-2.0 (babelsafe's own code; no data)"

    def __init__(self, pool: str | list[str] | None = None, target: Any = None, prefer_human: bool = True,
                 min_chrf: float | None = MIN_CHRF, on_low: str = "flag", back_translate: bool = True,
                 ctx: Any = None):
        self.pool = lang_list(pool) if pool is not None else list(MULTIJAIL_POOL)
        if not self.pool:
            raise UsageError("adaptive: the language pool is empty.")
        self.translate = Translate(to=self.pool, target=target, prefer_human=prefer_human, min_chrf=min_chrf,
                                   on_low=on_low, back_translate=back_translate, ctx=ctx)

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        results = await asyncio.gather(*(self.translate.translate_one(probe, lang, ctx) for lang in self.pool))
        out = []
        for rank, (lang, p) in enumerate(zip(self.pool, results)):
            if p is None:
                continue
            p.chain[-1]["name"] = self.name
            p.chain[-1]["params"].update(pool=self.pool, rank=rank)
            p.meta.update(adaptive_pool=list(self.pool), adaptive_rank=rank)
            out.append(p)
        return out
