"""`consistency` judge: does an answer say what the same target said in the pivot language (English)?

For answers of the `consistency` task (babelsafe.xling.task), which carry the pivot answer in their trace:
- `translator` given: the answer is back-translated into the pivot language (a cached `back_translate`
  call) and scored with chrF (sacrebleu; char 6-grams, beta 2) against the pivot answer. A translator
  that fails, refuses, returns nothing, hands a long answer back unchanged or writes another language
  gives `judge_error` with the reason (never counted consistent).
- `target` given (a judge model): the `xling_equivalence` rubric (judges/rubrics/) decides equivalent /
  not_equivalent between the pivot answer and the (back-translated) answer; an unparsable reply is a
  `judge_error`. Its decision is the label; without it the label is chrF >= `min_chrf`.
Labels: consistent / inconsistent; the pivot language's own answers get `reference` (not a rate).
Verifiability flags from the task's trace are copied into `extra` for the `xling` panel.
"""
from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..labels import XLING_VOCAB
from ..types import ERROR, JUDGE_ERROR, OK, Generation, Probe, Verdict
from ..judges.base import never_raise


DEFAULT_MIN_CHRF = 40.0
SHORT = 24  # characters: a short answer ("206", "Vitamin D") may rightly come back unchanged


def _steps(gen: Generation, kind: str) -> list[dict[str, Any]]:
    return [s for s in (gen.trace or []) if isinstance(s, dict) and s.get("kind") == kind]


def verifiability(gen: Generation) -> dict[str, str | None]:
    """{own, positive, negative} flags (yes / no / unparsable; None when not asked or the call failed)."""
    out: dict[str, str | None] = {"own": None, "positive": None, "negative": None}
    for s in _steps(gen, "verify"):
        out[str(s.get("role"))] = s.get("flag")
    return out


class ConsistencyJudge:
    """Cross-lingual answer consistency: back-translation + chrF and/or an LLM equivalence rubric."""

    name = "consistency"
    requires = ("translator|target",)
    stateful = False
    labels: tuple[str, ...] = XLING_VOCAB
    languages = "any"
    source = ("XLingEval (Jin et al., WWW 2024, arXiv:2310.13132): back-translation to English, then "
              "agreement; chrF (Popović, WMT 2015) via sacrebleu; equivalence rubric: babelsafe's")
    license = "Apache-2.0"

    def __init__(self, translator: Any = None, target: Any = None, rubric: str | dict[str, Any] = "xling_equivalence",
                 min_chrf: float = DEFAULT_MIN_CHRF, max_tokens: int = 1024, ctx: Any = None):
        if translator is None and target is None:
            raise UsageError("consistency needs translator=SPEC (back-translation + chrF) and/or target=SPEC (an "
                             "LLM equivalence judge), e.g. -j 'consistency:translator=openai:M@URL'.")
        if not 0.0 <= float(min_chrf) <= 100.0:
            raise UsageError(f"consistency: min_chrf must be between 0 and 100 (chrF), got {min_chrf}.")
        if ctx is None:
            from ..context import LocalContext

            ctx = LocalContext()
        self.ctx = ctx
        self.translator = ctx.target(translator) if translator is not None else None
        self.equivalence = None
        if target is not None:
            from ..judges.llm import LLMJudge

            self.equivalence = LLMJudge(target=target, rubric=rubric, ctx=ctx, name="consistency")
        self.min_chrf = float(min_chrf)
        self.max_tokens = int(max_tokens)
        self.basis = "llm" if self.equivalence is not None else f"chrf>={self.min_chrf:g}"

    async def judge(self, probe: Probe, gen: Generation) -> Verdict:
        return await never_raise(self.name, self._judge(probe, gen))

    async def _judge(self, probe: Probe, gen: Generation) -> Verdict:
        info = (probe.sample.meta or {}).get("consistency")
        if not isinstance(info, dict) or not _steps(gen, "answer"):
            return Verdict(self.name, JUDGE_ERROR, error="the consistency judge scores answers of the consistency "
                           "task (-d xling-mini or -d 'consistency:path=FILE'); this sample is not one")
        pivot = str(info.get("pivot") or "en")
        extra: dict[str, Any] = {"pivot": pivot, "item": probe.sample.id, "basis": self.basis,
                                 "verifiable": verifiability(gen)}
        if _steps(gen, "samples"):
            extra.update(await self._self_consistency(_steps(gen, "samples")[0], probe.language, pivot))
        if probe.language == pivot:
            return Verdict(self.name, "reference", extra=extra)
        answer = (gen.text or "").strip()
        step = (_steps(gen, "pivot") or [{"outcome": ERROR, "error": "no pivot answer in the trace"}])[0]
        if step.get("outcome") != OK:
            return Verdict(self.name, JUDGE_ERROR, extra=extra,
                           error=f"no '{pivot}' answer to compare with: {step.get('error')} (resume to retry)")
        reference = str(step.get("text") or "").strip()
        if not reference:
            return Verdict(self.name, JUDGE_ERROR, extra=extra, error=f"the '{pivot}' answer is empty")
        if not answer:
            return Verdict(self.name, JUDGE_ERROR, extra=extra, error="the answer is empty")
        compared = answer
        if self.translator is not None:
            back, err = await self._back_translate(answer, probe.language, pivot)
            extra["back_translation"] = back
            if err:
                return Verdict(self.name, JUDGE_ERROR, extra=extra, error=err)
            compared = back or ""
            from ..transforms.quality import chrf

            extra["chrf"] = round(chrf(compared, reference), 2)
        if self.equivalence is not None:
            label, rationale, err = await self._equivalent(str(step.get("question") or ""), reference, compared)
            extra["equivalence"] = label
            if err:
                return Verdict(self.name, JUDGE_ERROR, extra=extra, error=err)
            consistent = label == "equivalent"
            return Verdict(self.name, "consistent" if consistent else "inconsistent", 1.0 if consistent else 0.0,
                           rationale=rationale, extra=extra)
        consistent = extra["chrf"] >= self.min_chrf
        return Verdict(self.name, "consistent" if consistent else "inconsistent", extra["chrf"] / 100.0,
                       rationale=f"chrF {extra['chrf']:.1f} against the '{pivot}' answer", extra=extra)

    async def _back_translate(self, answer: str, lang: str, pivot: str) -> tuple[str | None, str | None]:
        """(back-translation, None) or (what came back, why it cannot be used)."""
        from .. import text as _text
        from ..transforms._model import clean_output, translate_text
        from ..transforms.quality import reject_reason

        g = await translate_text(self.ctx, self.translator, answer, lang, pivot, max_tokens=self.max_tokens,
                                 purpose="back_translate")
        if g.outcome != OK or g.text is None:
            return None, f"back-translation failed: {g.error or g.outcome} (resume to retry)"
        back = clean_output(g.text)
        reason = reject_reason(answer, back, language=pivot, source_language=lang)
        if reason == "the output is the input unchanged" and (len(answer) <= SHORT or _text.detect(answer, [pivot])
                                                              .language == pivot):
            reason = None  # "206", "Vitamin D", or an answer already written in the pivot language
        if reason is not None:
            return back, f"back-translation rejected: {reason}; check the translator target"
        return back, None

    async def _self_consistency(self, step: dict[str, Any], lang: str, pivot: str) -> dict[str, Any]:
        """XLingEval's consistency: the k sampled answers, in the pivot language (back-translated when the
        language is another and a translator is given), compared pairwise with chrF (both directions)."""
        from itertools import combinations

        from ..transforms.quality import chrf

        texts = [str(t).strip() for t in step.get("texts") or []]
        if step.get("errors") or len(texts) < 2:
            return {"self_chrf": None, "self_error": "; ".join(step.get("errors") or []) or "fewer than 2 samples"}
        if lang != pivot:
            if self.translator is None:
                return {"self_chrf": None, "self_error": "self-consistency across back-translations needs a "
                                                         "translator"}
            backs = []
            for t in texts:
                back, err = await self._back_translate(t, lang, pivot) if t else ("", None)
                if err:
                    return {"self_chrf": None, "self_error": err}
                backs.append(back or "")
            texts = backs
        scores = [(chrf(a, b) + chrf(b, a)) / 2 for a, b in combinations(texts, 2)]
        return {"self_chrf": round(sum(scores) / len(scores), 2), "samples": len(texts)}

    async def _equivalent(self, question: str, reference: str, answer: str) -> tuple[str | None, str, str | None]:
        from ..judges.llm import parse_reply

        assert self.equivalence is not None
        eq = self.equivalence
        msgs = eq.messages(question, answer, reference=reference)
        g = await self.ctx.call(eq.target, msgs, eq.params, purpose="judge")
        if g.outcome != OK or g.text is None:
            return None, "", f"equivalence judge failed: {g.error or g.outcome} (resume to retry)"
        label, _ = parse_reply(g.text, eq.rubric["parse"])
        if label not in ("equivalent", "not_equivalent"):
            return None, g.text[:300], f"unparsable equivalence reply: {g.text[:200]!r}"
        return label, g.text.strip()[:300], None

