"""The `consistency` task (registry kind `task`): one benign question answered in one language, plus
what the cross-lingual comparison needs from the same target.

For a probe of a consistency dataset (babelsafe.xling.dataset) the task asks, all through `ctx.call`
(cached, retried, resumable like every call):
1. the question, as the runner would (the probe's messages with the target's system prompt): the answer;
2. the pivot-language version of the item (default English) with the same messages the pivot probe
   sends, so the call is shared with (or a cache hit of) that probe's own answer, never asked twice;
3. with `samples=k`: k more answers at a non-zero temperature (XLingEval's self-consistency);
4. verifiability (XLingEval, Jin et al. 2024): the same target answers Yes/No to "is this response a
   factually correct answer to the question?" about its own answer; and, when the item has a reference
   answer, about (question, reference) and (question, another item's reference), the positive and
   negative pairs XLingEval scores with accuracy and macro-F1.

The steps ride on `Generation.trace` to the `consistency` judge (back-translation, chrF, equivalence)
and are stored as component ("xling_trace", "<probe_key>|<target>"). A missing language version is a
stored error (error_kind `invalid_item`) naming the item and the language.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import replace
from typing import Any

from ..engine.samples import with_system
from ..results.readers import XLING_TRACE_KIND
from ..types import ERROR, OK, GenParams, Generation, Probe, stable_hash

log = logging.getLogger(__name__)

TRACE_KIND = XLING_TRACE_KIND
VERIFY_PROMPT = ("Question: {question}\n\nResponse: {response}\n\nIs this response a factually correct answer "
                 "to the question? Answer only Yes or No.")
VERIFY_PARAMS = GenParams(temperature=0.0, max_tokens=8)
# Yes / No in the languages babelsafe ships lexicons for (the instruction asks for English; models
# often answer in the question's language)
_YES = ("yes", "sí", "si", "oui", "ja", "sim", "да", "tak", "evet", "ndiyo", "ya", "có", "是", "对", "對",
        "是的", "はい", "네", "예", "نعم", "हाँ", "हां", "जी हाँ", "হ্যাঁ", "ใช่")
_NO = ("no", "non", "nein", "não", "nao", "нет", "nie", "hayır", "hapana", "tidak", "không", "否", "不", "不是",
       "不对", "いいえ", "아니요", "아니오", "لا", "नहीं", "না", "ไม่")
_WORD = re.compile(r"[\w\u0900-\u097F\u0980-\u09FF\u0E00-\u0E7F]+", re.UNICODE)
YES, NO, UNPARSABLE = "yes", "no", "unparsable"


def parse_yes_no(text: str | None) -> str:
    """yes | no | unparsable from a verifier's reply: its first word (CJK: its first characters)."""
    t = unicodedata.normalize("NFKC", text or "").strip().strip("*\"'「」“”.").casefold()
    if not t:
        return UNPARSABLE
    for cands, label in ((sorted(_NO, key=len, reverse=True), NO), (sorted(_YES, key=len, reverse=True), YES)):
        for c in cands:
            # CJK words have no spaces after them: a prefix match; others must be a whole first word
            if ord(c[0]) > 0x2E80 and t.startswith(c):
                return label
    m = _WORD.search(t)
    first = m.group(0) if m else ""
    if first in _NO:
        return NO
    if first in _YES:
        return YES
    return UNPARSABLE


def trace_name(probe_key: str, target: str) -> str:
    return f"{probe_key}|{target}"


def pivot_messages(question: str, slot: Any) -> list[dict[str, Any]]:
    """What the pivot probe sends (engine.samples.initial_probe + the target's system prompt)."""
    return with_system([{"role": "user", "content": question}], slot.system_prompt)


async def _verify(ctx: Any, slot: Any, question: str, response: str, role: str) -> dict[str, Any]:
    msgs = [{"role": "user", "content": VERIFY_PROMPT.format(question=question, response=response)}]
    g = await ctx.call(slot.target, msgs, VERIFY_PARAMS, purpose="verify")
    if g.outcome != OK:
        return {"kind": "verify", "role": role, "outcome": g.outcome, "error": g.error, "flag": None}
    return {"kind": "verify", "role": role, "outcome": OK, "reply": (g.text or "")[:200],
            "flag": parse_yes_no(g.text)}


async def run_consistency(probe: Probe, slot: Any, ctx: Any) -> Generation:
    """Answer `probe` with the target of `slot`, fetch the pivot answer and the verifiability flags."""
    info: dict[str, Any] = dict(probe.sample.meta.get("consistency") or {})
    key = stable_hash([probe.key, slot.label, "consistency"])
    if info.get("missing"):
        return Generation(text=None, outcome=ERROR, error=str(info["missing"]), error_kind="invalid_item",
                          attempts=0, cache_key=key)
    gen = await ctx.call(slot.target, with_system(probe.messages, slot.system_prompt), slot.params,
                         purpose="target")
    if gen.outcome != OK:
        return gen
    steps: list[dict[str, Any]] = []
    pivot = str(info.get("pivot") or "en")
    steps.append({"kind": "answer", "language": probe.language, "pivot": pivot, "item": probe.sample.id})
    if probe.language != pivot:
        question = info.get("pivot_question")
        if not question:
            steps.append({"kind": "pivot", "outcome": ERROR, "error": f"item '{probe.sample.id}' has no "
                          f"'{pivot}' version to compare with; add that row"})
        else:
            pg = await ctx.call(slot.target, pivot_messages(str(question), slot), slot.params, purpose="target")
            steps.append({"kind": "pivot", "outcome": pg.outcome, "question": question, "text": pg.text,
                          "error": pg.error, "cache_key": pg.cache_key})
    k = int(info.get("samples") or 0)
    if k >= 2:  # XLingEval's self-consistency: k more answers at a non-zero temperature (seeds 1..k)
        texts, errors = [], []
        for i in range(1, k + 1):
            params = replace(slot.params, temperature=float(info.get("sample_temperature") or 1.0), seed=i)
            g = await ctx.call(slot.target, with_system(probe.messages, slot.system_prompt), params,
                               purpose="sample")
            if g.outcome == OK:
                texts.append(g.text or "")
            else:
                errors.append(f"sample {i}: {g.error or g.outcome}")
        steps.append({"kind": "samples", "texts": texts, "errors": errors})
    if info.get("verify", True):
        steps.append(await _verify(ctx, slot, probe.prompt_text, gen.text or "", "own"))
        if info.get("answer"):
            steps.append(await _verify(ctx, slot, probe.prompt_text, str(info["answer"]), "positive"))
        if info.get("negative"):
            steps.append(await _verify(ctx, slot, probe.prompt_text, str(info["negative"]), "negative"))
    gen.trace = steps
    ctx.store.write_component(TRACE_KIND, trace_name(probe.key, slot.label),
                              {"item": probe.sample.id, "language": probe.language, "steps": steps})
    return gen


class ConsistencyTask:
    """Cross-lingual answer consistency (XLingEval): the answer, the pivot answer, verifiability flags."""

    name = "consistency"
    languages = "any"
    source = "babelsafe; protocol after XLingEval (Jin et al., WWW 2024, arXiv:2310.13132)"
    license = "Apache-2.0"

    async def run(self, probe: Probe, slot: Any, ctx: Any) -> Generation:
        return await run_consistency(probe, slot, ctx)
