"""Screening logic shared by the guardrail proxy and the in-run `guard` defense layer.

How a judge is used (its label vocabulary decides):

- Safety judges (labels include "unsafe": `llm`, `guard`, `ensemble`, ...). Input screening hands the judge
  the user's last message both as the query and as the text to label (probe.meta["screen"] == "input", so a
  guard model that has a prompt-classification mode can use it); label "unsafe" blocks. Output screening
  labels the model's answer to the conversation; "unsafe" blocks.
- Refusal judges (`refusal`, `cyberseceval-refusal`: full_compliance / full_refusal / partial_refusal /
  invalid). They describe answers, not prompts, so input screening with them is refused (use a safety judge
  through `input_judge`). On output, `partial_refusal` blocks: the model itself said the request was not OK
  and then went on to answer it ("I can't help with that. However, here is ..."), which is the leak a
  guard can catch without a second model. A full refusal written in another language than the user's is
  replaced by the refusal in the user's language (`localize_refusals`). Compliance passes: without a
  harm label for the prompt a refusal judge cannot call an answer unsafe. This is the cheap default (no
  model call, well under a millisecond per check) and the one the proxy benchmark measures.

`block_labels` overrides the labels that block. A judge failure passes the text (fail-open) unless
`fail_closed` is set. The optional English pivot translates the text to English (with `translator`, a
target spec) before the judge sees it, for judges that are weaker outside English.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import UsageError
from ..labels import OTHER, REFUSAL, SAFETY, judge_vocabulary
from ..registry import registry
from ..types import ERROR, JUDGE_ERROR, GenParams, Generation, Message, Probe, Sample, Verdict, stable_hash
from ..text import detect_language, expected_languages, prior_of, quick_language
from .lang import prompt, refusal_text, refusals

log = logging.getLogger(__name__)

PASS, BLOCK, LOCALIZE, SKIP, HOLD = "pass", "block", "localize", "skip", "hold"


@dataclass
class Decision:
    """The outcome of one check."""

    stage: str  # input | output
    action: str  # pass | block | localize | skip | hold (streams: not yet)
    label: str | None = None
    judge: str | None = None
    language: str = "en"
    latency_ms: float = 0.0
    rationale: str | None = None
    pivot: bool = False
    error: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action == BLOCK

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "action": self.action, "label": self.label, "judge": self.judge,
                "language": self.language, "latency_ms": round(self.latency_ms, 3), "pivot": self.pivot,
                "error": self.error}


def vocabulary(judge: Any) -> str:
    """SAFETY or REFUSAL from the judge's declared labels (labels.judge_vocabulary); an error otherwise."""
    kind = judge_vocabulary(judge)
    if kind == OTHER:
        labels = set(getattr(judge, "labels", ()) or ())
        raise UsageError(f"Judge '{getattr(judge, 'name', judge)}' has labels {sorted(labels)}; the guard needs "
                         "a safety judge (labels safe/unsafe) or a refusal judge.")
    return kind


def build_judge(name: str, options: dict[str, Any] | None, ctx: Any) -> Any:
    """A judge from the registry; the refusal judge skips its answer-language check by default (a guard
    must not block an answer for being in another language)."""
    opts = dict(options or {})
    if name in ("refusal",):
        opts.setdefault("check_language", False)
    return registry("judge").build(name, opts, ctx)


def message_text(content: Any) -> str:
    """Text of a chat message's content (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text")
                        in ("text", "input_text"))
    return "" if content is None else str(content)


def last_user_text(messages: Iterable[dict[str, Any]]) -> str:
    for m in reversed(list(messages)):
        if isinstance(m, dict) and m.get("role") == "user":
            return message_text(m.get("content"))
    return ""


def _plain(messages: Iterable[dict[str, Any]]) -> list[Message]:
    return [{"role": str(m.get("role", "user")), "content": message_text(m.get("content"))}
            for m in messages if isinstance(m, dict)]


@dataclass
class Screen:
    """Input/output checks with a judge; see the module docstring for the policy."""

    judge: str = "refusal"
    check: tuple[str, ...] | None = None  # None: ("output",) for refusal judges, ("input","output") otherwise
    judge_options: dict[str, Any] = field(default_factory=dict)
    input_judge: str | None = None
    input_judge_options: dict[str, Any] = field(default_factory=dict)
    pivot: bool = False
    translator: str | dict[str, Any] | None = None
    block_labels: tuple[str, ...] | None = None
    localize_refusals: bool = True
    fail_closed: bool = False
    ctx: Any = None
    # the languages users are expected to write in (a prior for short texts); the runner adds the probe's
    # language per call (babelsafe.text.expecting)
    languages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.languages = prior_of(self.languages) or None
        if self.ctx is None:  # the engine loads here, not when `babelsafe list defenses` reads the class
            from ..context import LocalContext

            self.ctx = LocalContext()
        self._judge = build_judge(self.judge, self.judge_options, self.ctx)
        self.kind = vocabulary(self._judge)
        if self.check is None:
            self.check = ("output",) if self.kind == REFUSAL and not self.input_judge else ("input", "output")
        elif isinstance(self.check, str):
            self.check = tuple(c.strip() for c in self.check.split(",") if c.strip())
        bad = set(self.check) - {"input", "output"}
        if bad:
            raise UsageError(f"--check takes input and/or output, not {', '.join(sorted(bad))}.")
        self._input_judge = self._judge
        self.input_kind = self.kind
        if self.input_judge:
            self._input_judge = build_judge(self.input_judge, self.input_judge_options, self.ctx)
            self.input_kind = vocabulary(self._input_judge)
        if "input" in self.check and self.input_kind == REFUSAL:
            raise UsageError(f"The '{getattr(self._input_judge, 'name', self.judge)}' judge labels answers, not "
                             "prompts, so it cannot screen input. Use --check output, or a safety judge (e.g. "
                             "--input-judge llm) for the input check.")
        if self.block_labels is None:
            self._block_out = {"unsafe"} if self.kind == SAFETY else {"partial_refusal"}
            self._block_in = {"unsafe"}
        else:
            self._block_out = self._block_in = set(self.block_labels)
        self._translator: Any = None
        if self.pivot:
            if not self.translator:
                raise UsageError("The English pivot needs a translator target (e.g. --translator "
                                 "'{\"type\": \"openai\", \"model\": \"gpt-4o-mini\"}').")
            self._translator = self.ctx.target(self.translator) if not hasattr(self.translator, "generate") \
                else self.translator

    # -- helpers -------------------------------------------------------------------------------
    @property
    def checks_input(self) -> bool:
        return "input" in (self.check or ())

    @property
    def checks_output(self) -> bool:
        return "output" in (self.check or ())

    def identity(self) -> dict[str, Any]:
        return {"judge": self.judge, "judge_options": self.judge_options, "check": list(self.check or ()),
                "input_judge": self.input_judge, "input_judge_options": self.input_judge_options,
                "pivot": self.pivot, "translator": self.translator if not hasattr(self.translator, "identity")
                else self.translator.identity(), "block_labels": sorted(self._block_out),
                "localize_refusals": self.localize_refusals, "fail_closed": self.fail_closed}

    @staticmethod
    def hint_language(hint: str | None) -> str | None:
        """A client-given language (e.g. the X-Babelsafe-Language header) as a code, or None."""
        if hint:
            try:
                from .. import languages

                return languages.normalize(hint)
            except UsageError:
                return None
        return None

    def prior(self) -> tuple[str, ...]:
        """The languages expected now: the current probe's (in runs), then the configured ones."""
        return prior_of(expected_languages(), self.languages)

    def detect(self, text: str) -> str:
        """The language of `text` given the prior; "und" when it cannot be told."""
        return detect_language(text, self.prior())

    def language_of(self, messages: Iterable[dict[str, Any]], hint: str | None = None) -> str:
        """The user's language: the hint when valid, else detected from the last user message."""
        return self.hint_language(hint) or self.detect(last_user_text(messages))

    @staticmethod
    def refusal(language: str) -> str:
        return refusal_text(language)

    async def to_english(self, text: str, language: str) -> tuple[str, bool]:
        """(text in English, translated?) through the translator; the original text when that fails."""
        if not self.pivot or language == "en" or not text.strip():
            return text, False
        msgs = [{"role": "system", "content": prompt("translate", language="English")},
                {"role": "user", "content": text}]
        g = await self.ctx.call(self._translator, msgs, GenParams(temperature=0.0, max_tokens=2048),
                                purpose="guard-pivot")
        if g.outcome == ERROR or not (g.text or "").strip():
            log.warning("guard pivot translation failed (%s); judging the original text", g.error)
            return text, False
        return g.text or "", True

    async def _judge_text(self, judge: Any, stage: str, messages: list[Message], text: str,
                          language: str | None) -> tuple[Verdict, bool]:
        query = last_user_text(messages)
        if self.pivot and language is None:
            language = self.detect(query)
        text_j, pivoted = await self.to_english(text, language or "en")
        lang_j = "en" if pivoted else language
        if pivoted and stage == "output":
            query, _ = await self.to_english(query, language or "en")
        if stage == "input":
            query = text_j
        sample = Sample(dataset="guard", id=stable_hash(query, 12), language=lang_j or "und", prompt=query)
        msgs = [m for m in messages if m.get("role") == "system"] + [{"role": "user", "content": query}]
        probe = Probe(sample=sample, messages=msgs, language=lang_j or "und",
                      meta={"screen": stage, "answer_language": lang_j})
        gen = Generation(text=text_j)
        try:
            v = await judge.judge(probe, gen)
        except Exception as e:  # a judge failure is reported, never raised into the request
            v = Verdict(getattr(judge, "name", "judge"), JUDGE_ERROR, error=f"{type(e).__name__}: {e}")
        return v, pivoted

    def _decide(self, stage: str, v: Verdict, language: str | None, user_text: str, t0: float, pivoted: bool,
                kind: str, block: set[str], text: str) -> Decision:
        d = Decision(stage, PASS, v.label, v.judge, language or "und", 0.0, v.rationale, pivoted, v.error)
        if v.label == JUDGE_ERROR:
            d.action = BLOCK if self.fail_closed else PASS
        elif v.label in block:
            d.action = BLOCK
        elif stage == "output" and kind == REFUSAL and self.localize_refusals and v.label == "full_refusal":
            lang = language or self.detect(user_text)
            d.language = lang
            if lang != "en" and lang in refusals() and text.strip() != refusal_text(lang) \
                    and detect_language(text) != lang:
                d.action = LOCALIZE
        if d.action == BLOCK and language is None:  # the refusal must be in the user's language
            d.language = self.detect(user_text)
        d.latency_ms = (time.perf_counter() - t0) * 1000
        return d

    # -- the checks ----------------------------------------------------------------------------
    def _quick(self, msgs: list[Message], language: str | None) -> tuple[str, str | None]:
        user = last_user_text(msgs)
        if language:
            return user, language
        prior = self.prior()
        quick = quick_language(user)
        if prior and (quick is None or quick not in prior):
            return user, self.detect(user)  # a run's languages are known: use them as the prior
        return user, quick

    async def check_input(self, messages: list[dict[str, Any]], language: str | None = None) -> Decision:
        """Check the user's last message. A known `language` skips detection; otherwise a cheap guess is used
        for the judge, and full detection runs only when a refusal has to be written."""
        t0 = time.perf_counter()
        msgs = _plain(messages)
        user, lang = self._quick(msgs, language)
        if not self.checks_input:
            return Decision("input", SKIP, language=lang or "und")
        v, pivoted = await self._judge_text(self._input_judge, "input", msgs, user, lang)
        d = self._decide("input", v, language, user, t0, pivoted, self.input_kind, self._block_in, user)
        if d.language == "und" and lang:
            d.language = lang
        return d

    async def check_output(self, messages: list[dict[str, Any]], text: str, language: str | None = None,
                           final: bool = True) -> Decision:
        """Check an answer (or, with final=False, the part of a streamed answer received so far)."""
        t0 = time.perf_counter()
        msgs = _plain(messages)
        user, lang = self._quick(msgs, language)
        if not self.checks_output or not text.strip():
            return Decision("output", SKIP, language=lang or "und")
        v, pivoted = await self._judge_text(self._judge, "output", msgs, text, lang)
        d = self._decide("output", v, language, user, t0, pivoted, self.kind, self._block_out, text)
        if d.language == "und" and lang:
            d.language = lang
        if not final and d.action == LOCALIZE:
            d.action = HOLD  # a refusal so far: keep it back until the whole answer can be localized
        return d

    async def warmup(self) -> None:
        """Load language detectors and compile lexicons now rather than on the first request."""
        for t in ("Hello, how are you doing today, my friend?", "Привет, как у тебя дела сегодня?",
                  "مرحبا، كيف حالك اليوم يا صديقي؟"):
            detect_language(t + " ", self.languages)
        if self.kind == REFUSAL:
            for lang in [None, *refusals()]:
                await self._judge.judge(Probe(Sample("guard", "warmup", lang or "en", "Hi"), [], lang or "en",
                                              meta={"answer_language": lang}), Generation(text="Sorry, I can't."))

    async def aclose(self) -> None:
        from ..context import LocalContext

        if isinstance(self.ctx, LocalContext):
            await self.ctx.aclose()
