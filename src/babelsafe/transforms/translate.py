"""`translate`: the prompt in other languages — the dataset's human translation when there is one,
else a translator model; optional round-trip back-translation scored with chrF."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import UsageError
from ..types import Probe
from ._model import clean_output, lang_list, resolve_ctx, spec_label, target_of, translate_text
from .base import check_choice, derive, flagged, gen_error, gen_ok
from .quality import MIN_CHRF, chrf, reject_reason

__all__ = ["Translate", "chrf", "human_translation", "dataset_translations", "MIN_CHRF"]

log = logging.getLogger("babelsafe.transforms")


def human_translation(probe: Probe, lang: str) -> str | None:
    """The dataset's own translation of the probe's prompt into `lang`, if the sample carries one.

    Parallel datasets put all versions of an item in `sample.meta["translations"]` ({code: text}) on
    English samples; for other samples the registered dataset's `translations(id)` is asked. It only applies while the probe still holds the sample's original prompt (first step of a chain).
    """
    s = probe.sample
    if probe.prompt_text != s.prompt or probe.language != s.language:
        return None
    translations = (s.meta or {}).get("translations")
    if not isinstance(translations, dict):
        translations = dataset_translations(s.dataset, s.id)
    text = translations.get(lang)
    return text if isinstance(text, str) and text.strip() else None


def dataset_translations(dataset: str, item_id: str) -> dict[str, str]:
    """{language: text} of one item of a registered parallel dataset (the class's `translations(id)`),
    {} when the dataset is not registered or not parallel."""
    from ..registry import registry

    try:
        cls = registry("dataset").get(dataset)
    except UsageError:
        return {}
    if not getattr(cls, "parallel", False) or not callable(getattr(cls, "translations", None)):
        return {}
    try:
        out = cls.translations(item_id)
    except Exception:  # a dataset problem must not break translation; fall back to the translator
        log.exception("could not read the human translations of %s/%s", dataset, item_id)
        return {}
    return out if isinstance(out, dict) else {}


class Translate:
    """Translate the prompt into other languages (human translation preferred, else a translator model).

    Options: `to` (a code or a list, e.g. to=zh+bn+sw on the command line: one probe per language), `target` (translator target: a name or a
    dict like {"type": "openai", "model": ..., "base_url": ...}), `prefer_human` (default True: use
    `sample.meta["translations"][to]` when the dataset ships a parallel human translation; `source="human"`
    or `source="machine"` is accepted as a synonym), `back_translate` (default True when a translator is
    given: translate back and store chrF against the original in the step params), `min_chrf` (default
    30, see transforms/quality.py; 0 turns it off: a machine translation whose round-trip chrF is below it
    is rejected), `check` (default True: reject a translator's refusal, the input handed back unchanged,
    or an output in another language), `on_low` ("flag", the default, stores a rejected translation as a
    `transform` error with the reason and the score; "drop" removes the probe), `on_error` ("flag" keeps
    the probe untranslated with meta["transform_error"]; "drop" removes it). Human translations are not
    gated. Translations are ordinary cached model calls (purpose "translate" / "back_translate").
    """

    name = "translate"
    decodes = False  # no decode(): answers are judged as written
    source = ("MultiJail (Deng et al., ICLR 2024, arXiv:2310.06474): human vs machine-translated prompts; "
              "chrF (Popović, WMT 2015) via sacrebleu")
    languages = "any"
    license = "Apache-2.0 (babelsafe's prompt); human translations keep their dataset's license"

    def __init__(self, to: str | list[str], target: Any = None, prefer_human: bool = True,
                 source: str | None = None, back_translate: bool = True, min_chrf: float | None = MIN_CHRF,
                 on_low: str = "flag", on_error: str = "flag", max_tokens: int = 1024, check: bool = True,
                 ctx: Any = None):
        to_list = lang_list(to)
        if not to_list:
            raise UsageError("translate needs `to`: a language code or a list, e.g. to=bn or to=[zh,bn,sw].")
        self.to = to_list
        if source is not None:
            check_choice("source", source, ("human", "machine", "model"))
            prefer_human = source == "human"
        self.prefer_human = bool(prefer_human)
        self.target_spec = target
        if target is None and not self.prefer_human:
            raise UsageError("translate with prefer_human=False needs a translator: target=<name or spec>.")
        self.back_translate = bool(back_translate) and target is not None
        self.min_chrf = float(min_chrf or 0.0)
        if not 0.0 <= self.min_chrf <= 100.0:
            raise UsageError(f"translate: min_chrf must be between 0 and 100 (chrF), got {min_chrf}.")
        self.check = bool(check)
        self.on_low = check_choice("on_low", on_low, ("drop", "flag"))
        self.on_error = check_choice("on_error", on_error, ("drop", "flag"))
        self.max_tokens = int(max_tokens)
        self._ctx = ctx

    def _params(self, to: str, src: str) -> dict[str, Any]:
        return {"from": src, "to": to, "translator": spec_label(self.target_spec),
                "prefer_human": self.prefer_human}

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        results = await asyncio.gather(*(self.translate_one(probe, lang, ctx) for lang in self.to))
        return [p for p in results if p is not None]

    async def translate_one(self, probe: Probe, to: str, ctx: Any = None) -> Probe | None:
        """The probe translated into one language (None when dropped)."""
        src = probe.language
        text = probe.prompt_text
        params = self._params(to, src)
        if to == src:
            return derive(probe, self.name, {**params, "method": "identity"}, text, language=to)
        translated = human_translation(probe, to) if self.prefer_human else None
        method = "human"
        translator = None
        if self.target_spec is not None:
            ctx = resolve_ctx(ctx, self._ctx, self.name)
            translator = target_of(ctx, self.target_spec)
        if translated is None:
            method = "model"
            if translator is None:
                return self._fail(probe, params, f"no human translation into '{to}' for this sample and no "
                                                 "translator target (set target=...)")
            gen = await translate_text(ctx, translator, text, src, to, max_tokens=self.max_tokens)
            if not gen_ok(gen):
                return self._fail(probe, params, gen_error(gen))
            translated = clean_output(gen.text or "")
            if self.check:
                reason = reject_reason(text, translated, language=to, source_language=src)
                if reason is not None:
                    return self._reject(probe, {**params, "method": method, "output": translated}, reason)
        params["method"] = method
        if self.back_translate and translator is not None:
            back = await translate_text(ctx, translator, translated, to, src, max_tokens=self.max_tokens,
                                        purpose="back_translate")
            if gen_ok(back):
                back_text = clean_output(back.text or "")
                score = round(chrf(back_text, text), 2)
                params.update(back_translation=back_text, chrf=score)
                if method == "model" and score < self.min_chrf:
                    return self._reject(probe, {**params, "output": translated},
                                        f"round-trip chrF {score:.1f} < min_chrf {self.min_chrf:g}")
            else:
                params["chrf"] = None
                params["back_translation_error"] = gen_error(back)
        return derive(probe, self.name, params, translated, language=to)

    def _reject(self, probe: Probe, params: dict[str, Any], reason: str) -> Probe | None:
        """A translation that failed its quality gate: a `transform` error (or dropped with on_low=drop)."""
        if self.on_low == "drop":
            log.info("translate: dropped %s/%s %s->%s: %s", probe.sample.dataset, probe.sample.id,
                     params["from"], params["to"], reason)
            return None
        return flagged(probe, self.name, {**params, "rejected": reason}, f"quality gate: {reason}",
                       language=params["to"])

    def _fail(self, probe: Probe, params: dict[str, Any], error: str) -> Probe | None:
        if self.on_error == "drop":
            log.warning("translate: dropped %s/%s (%s): %s", probe.sample.dataset, probe.sample.id,
                        params["to"], error)
            return None
        return flagged(probe, self.name, params, error, language=params["to"])
