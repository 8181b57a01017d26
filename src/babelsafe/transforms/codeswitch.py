"""`codeswitch`: mix a second language into the prompt at ratio r, word or phrase level, deterministically."""
from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

from .. import languages as langs
from ..errors import UsageError
from ..types import Probe, stable_hash
from ._model import clean_output, lang_name, resolve_ctx, spec_label, target_of
from .base import check_choice, data_yaml, derive, flagged, gen_error, gen_ok, helper_params, skipped

_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):\-]\s*(.*?)\s*$")


def _norm(word: str) -> str:
    return unicodedata.normalize("NFKC", word).strip()


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x3040 <= cp <= 0x30FF
            or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F)


def segment(text: str) -> list[tuple[int, int]]:
    """Word units as (start, end) spans: runs of letters, marks and digits (with inner ' or -); each
    Han / kana character is a unit of its own. Scripts written without spaces and without Han
    (Thai, Lao, Khmer, Burmese) get whitespace-delimited chunks as units."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)

    def wordish(c: str) -> bool:
        return unicodedata.category(c)[0] in "LMN" and not _is_cjk(c)

    while i < n:
        c = text[i]
        if _is_cjk(c):
            spans.append((i, i + 1))
            i += 1
        elif wordish(c):
            j = i + 1
            while j < n and (wordish(text[j]) or (text[j] in "'’-" and j + 1 < n and wordish(text[j + 1]))):
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


class CodeSwitch:
    """Code-switching: replace a ratio r of the prompt's words (or phrases) with their translation into `lang`.

    Options: `lang` (language mixed in), `ratio` (0..1, share of word units switched; default 0.3),
    `level` (word | phrase: contiguous spans of 2-4 words), `seed` (default: the run seed), `target`
    (translator target, required). Selection is deterministic: seeded by (seed, sample key, prompt text,
    options); the selected units are translated in context with one cached translator call. Word units
    are letter runs for space-separated scripts and single characters for Han/kana; scripts without
    spaces (Thai, Lao, Khmer, Burmese) only offer whitespace-delimited chunks.
    """

    name = "codeswitch"
    decodes = False  # no decode(): answers are judged as written
    source = ("Code-switching red-teaming: Yoo et al., CSRT: Evaluation and Analysis of LLMs using Code-Switching "
              "Red-Teaming Dataset (arXiv:2406.15481); Upadhayay & Behzadan, Sandwich attack (arXiv:2404.07242)")
    languages = "any"
    license = "Apache-2.0 (babelsafe's own translator prompt)"

    def __init__(self, lang: str, ratio: float = 0.3, level: str = "word", seed: int | None = None,
                 target: Any = None, max_tokens: int = 512, ctx: Any = None):
        self.lang = langs.normalize(lang)
        self.ratio = float(ratio)
        if not 0.0 <= self.ratio <= 1.0:
            raise UsageError(f"codeswitch: ratio must be between 0 and 1, got {ratio}.")
        self.level = check_choice("level", level, ("word", "phrase"))
        self.seed = seed
        if target is None:
            raise UsageError("codeswitch needs a translator target to translate the selected words: "
                             "target=<name or spec>.")
        self.target_spec = target
        self.max_tokens = int(max_tokens)
        self._ctx = ctx

    def select(self, text: str, seed_key: Any) -> list[tuple[int, int]]:
        """The spans to switch, in text order (deterministic for a given seed_key)."""
        units = [s for s in segment(text) if any(ch.isalpha() for ch in text[s[0]:s[1]])]
        k = round(self.ratio * len(units))
        if k == 0:
            return []
        rng = random.Random(stable_hash(seed_key))
        if self.level == "word":
            return sorted(rng.sample(units, k))
        chosen: set[int] = set()
        spans: list[tuple[int, int]] = []
        starts = list(range(len(units)))
        rng.shuffle(starts)
        for st in starts:
            if len(chosen) >= k:
                break
            length = min(rng.randint(2, 4), k - len(chosen)) if k - len(chosen) > 1 else 1
            idx = [i for i in range(st, min(st + length, len(units))) if i not in chosen]
            if not idx or idx != list(range(idx[0], idx[0] + len(idx))):
                continue  # a phrase is a contiguous run of unswitched words
            chosen.update(idx)
            spans.append((units[idx[0]][0], units[idx[-1]][1]))
        return sorted(spans)

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        text = probe.prompt_text
        seed = self.seed if self.seed is not None else getattr(ctx or self._ctx, "seed", 0)
        params: dict[str, Any] = {"lang": self.lang, "ratio": self.ratio, "level": self.level, "seed": seed,
                                  "translator": spec_label(self.target_spec)}
        if self.lang == probe.language:
            return [skipped(probe, self.name, {**params, "switched": []},
                            f"the prompt is already in '{self.lang}': nothing to switch")]
        spans = self.select(text, [seed, probe.sample.key, text, self.lang, self.ratio, self.level])
        params["units"] = len([s for s in segment(text) if any(ch.isalpha() for ch in text[s[0]:s[1]])])
        if not spans:
            return [skipped(probe, self.name, {**params, "switched": []},
                            f"ratio {self.ratio:g} of {params['units']} word units switches none")]
        ctx = resolve_ctx(ctx, self._ctx, self.name)
        items = [text[a:b] for a, b in spans]
        prompt = data_yaml("prompts/codeswitch.yaml")
        messages = [
            {"role": "system", "content": prompt["system"]},
            {"role": "user", "content": prompt["user"].format(
                source_name=lang_name(probe.language), target_name=lang_name(self.lang), sentence=text,
                items="\n".join(f"{i}. {w}" for i, w in enumerate(items, 1)))},
        ]
        gen = await ctx.call(target_of(ctx, self.target_spec), messages, helper_params(self.max_tokens),
                             purpose="translate")
        if not gen_ok(gen):
            return [flagged(probe, self.name, params, gen_error(gen))]
        got: dict[int, str] = {}
        for line in clean_output(gen.text or "").splitlines():
            m = _NUMBERED.match(line)
            if m and m.group(2):
                got.setdefault(int(m.group(1)), m.group(2).strip().strip('"“”'))
        missing = [i for i in range(1, len(items) + 1) if i not in got]
        if missing:
            return [flagged(probe, self.name, params,
                            f"translator answer lacks items {missing[:5]} of {len(items)}")]
        if all(_norm(got[i]) == _norm(w) for i, w in enumerate(items, 1)):
            return [flagged(probe, self.name, {**params, "switched": [[w, w] for w in items]},
                            "quality gate: the translator returned every selected word unchanged")]
        out = text
        for (a, b), i in sorted(zip(spans, range(1, len(items) + 1)), reverse=True):
            out = out[:a] + got[i] + out[b:]
        params["switched"] = [[w, got[i]] for i, w in enumerate(items, 1)]
        return [derive(probe, self.name, params, out, meta={"mixed_language": self.lang})]
