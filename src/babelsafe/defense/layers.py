"""Defense layers around a target inside evaluation runs (`--defense NAME`, spec `defenses:`).

    safety-prompt    a safety system prompt (options: prompt = default | pcdefense | xsafety | your own text;
                     position = system | user_prefix). Texts live in defense/data/safety_prompts.yaml.
    translate-pivot  translate the user's messages to English, ask, translate the answer back (options:
                     translator = a target spec, default the wrapped target itself; source = a language
                     code, default detected per request with the probe's language and the run's languages
                     as the prior (babelsafe.text.detect); a message whose language cannot be told is
                     sent as it is; max_tokens for the translations).
    guard            the proxy's screening in-process (options: judge, check, input_judge, judge_options,
                     block_labels, pivot, translator, fail_closed); a blocked exchange is answered with the
                     refusal in the user's language (finish_reason "content_filter", outcome ok, so judges
                     label it like any answer).

Layers apply in list order, each wrapping the previous one (the first is closest to the model). Every model
call a layer makes goes through `ctx.call`, so it is cached and stored like the run's own calls, and the
wrapped target's identity() includes the layer config, so defended and undefended answers never share a
cache entry.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..errors import UsageError
from ..targets.base import ProviderError
from ..types import CONTENT_FILTER, ERROR, OK, GenParams, Generation, Message, stable_hash
from ..text import UNKNOWN, detect, detect_language, expected_languages, prior_of
from .lang import language_name, load_data, prompt, refusal_text
from .screen import BLOCK, LOCALIZE, Screen, message_text

log = logging.getLogger(__name__)

LAYERS = ("safety-prompt", "translate-pivot", "guard")  # the built-in entries of registry("defense")


def safety_prompts() -> dict[str, dict[str, str]]:
    return load_data("safety_prompts.yaml")


def _register(ctx: Any, target: Any, label: str) -> None:
    """Make `target` callable through ctx.call; a context without `register` (e.g. LocalContext) needs
    nothing."""
    register = getattr(ctx, "register", None)
    if register is not None:
        register(target, label)


async def _call(ctx: Any, target: Any, messages: list[Message], params: GenParams, purpose: str) -> Generation:
    if ctx is not None and hasattr(ctx, "call"):
        return await ctx.call(target, messages, params, purpose=purpose)
    return await target.generate(messages, params)


def _raise_if_error(g: Generation) -> Generation:
    """An inner call that failed after its own retries fails the outer call (not retried again)."""
    if g.outcome == ERROR:
        raise ProviderError(g.error_kind or "server", g.error or "inner call failed", retryable=False)
    return g


def run_languages(ctx: Any) -> list[str]:
    """The run's languages (`-l`), a prior for language detection; [] outside a run."""
    spec = getattr(ctx, "spec", None)
    return list(getattr(spec, "languages", None) or [])


class DefendedTarget:
    """Base wrapper: keeps the Target protocol and passes everything else through to the inner target."""
    batched = False  # no generate_batch()

    layer = "defense"

    def __init__(self, inner: Any, options: dict[str, Any], ctx: Any):
        self.inner = inner
        self.options = dict(options)
        self.ctx = ctx
        self.name = f"{getattr(inner, 'name', 'target')}+{self.layer}"
        _register(ctx, inner, f"{getattr(inner, 'name', 'target')}[inner:{self.layer}]")

    @property
    def max_concurrency(self) -> int | None:
        return getattr(self.inner, "max_concurrency", None)

    def config(self) -> dict[str, Any]:
        return dict(self.options)

    def identity(self) -> dict[str, Any]:
        return {"type": "defended", "inner": self.inner.identity(),
                "defense": {"name": self.layer, "config": self.config()}}

    async def preflight(self) -> None:
        pre = getattr(self.inner, "preflight", None)
        if pre is not None:
            await pre()

    async def ask_inner(self, messages: list[Message], params: GenParams) -> Generation:
        """The wrapped target's answer to `messages`; records them in `sent` so the outer call record (the
        one a defended answer links to) shows what the model was really asked."""
        g = await _call(self.ctx, self.inner, messages, params, "target")
        sent = [*(g.sent or []), {"cache_key": g.cache_key, "messages": [dict(m) for m in messages]}]
        return dataclasses.replace(g, sent=sent)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


class SafetyPrompt(DefendedTarget):
    """A safety system prompt in front of every request (PCDefense-style)."""

    layer = "safety-prompt"
    languages = "any"
    source = ("babelsafe; prompt ideas from PCDefense (Lee & Seong, arXiv 2024) and XSafety (Wang et al., "
              "ACL 2024): defense/data/safety_prompts.yaml")
    license = "Apache-2.0 (babelsafe's own prompt texts)"

    def __init__(self, inner: Any, ctx: Any = None, prompt: str = "default", position: str = "system",
                 **rest: Any):
        if rest:
            raise UsageError(f"safety-prompt: unknown options {', '.join(rest)} (valid: prompt, position).")
        table = safety_prompts()
        text = table[prompt]["text"] if prompt in table else prompt
        if prompt not in table and len(prompt.split()) < 4:
            raise UsageError(f"safety-prompt: '{prompt}' is neither a named prompt ({', '.join(table)}) nor a "
                             "prompt text.")
        if position not in ("system", "user_prefix"):
            raise UsageError("safety-prompt: position must be 'system' or 'user_prefix'.")
        self.text = text.strip()
        self.position = position
        super().__init__(inner, {"prompt": prompt if prompt in table else "custom", "position": position}, ctx)

    def config(self) -> dict[str, Any]:
        return {**self.options, "text_sha": stable_hash(self.text, 16)}

    def apply(self, messages: list[Message]) -> list[Message]:
        if self.position == "user_prefix":
            out = [dict(m) for m in messages]
            for m in reversed(out):
                if m.get("role") == "user":
                    m["content"] = f"{self.text}\n\n{m.get('content', '')}"
                    break
            return out
        if messages and messages[0].get("role") == "system":
            return [{"role": "system", "content": f"{self.text}\n\n{messages[0].get('content', '')}"}] + messages[1:]
        return [{"role": "system", "content": self.text}] + list(messages)

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        return _raise_if_error(await self.ask_inner(self.apply(messages), params))


class TranslatePivot(DefendedTarget):
    """Ask in English: translate the user's messages to English, ask, translate the answer back."""

    layer = "translate-pivot"
    languages = "any"
    source = "babelsafe (ask in English: translate in, ask, translate back)"
    license = "Apache-2.0"

    def __init__(self, inner: Any, ctx: Any = None, translator: str | dict[str, Any] | None = None,
                 source: str | None = None, max_tokens: int = 1024, **rest: Any):
        if rest:
            raise UsageError(f"translate-pivot: unknown options {', '.join(rest)} "
                             "(valid: translator, source, max_tokens).")
        super().__init__(inner, {"translator": translator, "source": source, "max_tokens": max_tokens}, ctx)
        if translator is None:
            self.translator = inner
        elif ctx is None or not hasattr(ctx, "target"):
            raise UsageError("translate-pivot: a translator spec needs a run context.")
        else:
            self.translator = ctx.target(translator)
        self.source = source
        self.max_tokens = max_tokens

    def config(self) -> dict[str, Any]:
        return {**self.options, "translator": self.translator.identity() if self.translator is not self.inner
                else "self", "prompt_sha": stable_hash(prompt("translate", language="{language}"), 12)}

    async def translate(self, text: str, to: str) -> str:
        msgs = [{"role": "system", "content": prompt("translate", language=language_name(to))},
                {"role": "user", "content": text}]
        g = _raise_if_error(await _call(self.ctx, self.translator, msgs,
                                        GenParams(temperature=0.0, max_tokens=self.max_tokens), "translate"))
        return (g.text or "").strip()

    def language_of(self, text: str) -> str:
        """The user's language: the probe's language and the run's languages are the prior, so a short
        English question is not taken for Swedish; "und" (left untranslated) when it cannot be told."""
        d = detect(text, prior_of(expected_languages(), run_languages(self.ctx)))
        if d.language == UNKNOWN:
            log.info("translate-pivot: language of %r unknown (confidence %.2f); sent untranslated",
                     text[:60], d.confidence)
        return d.language

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        user = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        lang = self.source or self.language_of(user[-1] if user else "")
        if lang in ("en", UNKNOWN):
            return _raise_if_error(await self.ask_inner(messages, params))
        english: list[Message] = []
        for m in messages:
            if m.get("role") in ("user", "assistant") and message_text(m.get("content")).strip():
                english.append({"role": m["role"], "content": await self.translate(message_text(m["content"]), "en")})
            else:
                english.append(dict(m))
        g = _raise_if_error(await self.ask_inner(english, params))
        if g.outcome != OK or not (g.text or "").strip():
            return g
        back = await self.translate(g.text or "", lang)
        return Generation(text=back, outcome=OK, finish_reason=g.finish_reason, prompt_tokens=g.prompt_tokens,
                          completion_tokens=g.completion_tokens, latency_s=g.latency_s)


class GuardLayer(DefendedTarget):
    """The guardrail proxy's screening in-process: input/output checks with a judge."""

    layer = "guard"
    languages = "any"  # those of the screening judge
    source = "babelsafe guard screening (defense/screen.py), in-process"
    license = "Apache-2.0"

    def __init__(self, inner: Any, ctx: Any = None, judge: str = "refusal", check: str | list[str] | None = None,
                 judge_options: dict[str, Any] | None = None, input_judge: str | None = None,
                 block_labels: list[str] | None = None, pivot: bool = False,
                 translator: str | dict[str, Any] | None = None, fail_closed: bool = False,
                 localize_refusals: bool = True, **rest: Any):
        if rest:
            raise UsageError(f"guard: unknown options {', '.join(rest)}.")
        if isinstance(check, list):
            check = ",".join(check)
        super().__init__(inner, {}, ctx)
        self.screen = Screen(judge=judge, check=tuple(c.strip() for c in check.split(",")) if check else None,
                             judge_options=judge_options or {}, input_judge=input_judge,
                             block_labels=tuple(block_labels) if block_labels else None, pivot=pivot,
                             translator=translator, fail_closed=fail_closed,
                             localize_refusals=localize_refusals, ctx=ctx,
                             languages=tuple(run_languages(ctx)) or None)
        self.options = self.screen.identity()

    def _refuse(self, lang: str, latency: float | None = None) -> Generation:
        return Generation(text=refusal_text(lang), outcome=OK, finish_reason=CONTENT_FILTER, latency_s=latency)

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        d = await self.screen.check_input(messages)
        if d.blocked:
            return self._refuse(d.language)
        g = _raise_if_error(await self.ask_inner(messages, params))
        if g.outcome != OK:
            return g
        d = await self.screen.check_output(messages, g.text or "")
        if d.action == BLOCK:
            return self._refuse(d.language, g.latency_s)
        if d.action == LOCALIZE:
            return Generation(text=refusal_text(d.language), outcome=OK, finish_reason=g.finish_reason,
                              prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
                              latency_s=g.latency_s)
        return g


def wrap_target(target: Any, defenses: list[Any], ctx: Any) -> Any:
    """Wrap `target` in the defense layers `defenses` (StepSpec-like: .name/.options, or dicts/strings),
    in order (the first wraps the model directly). Returns an object with the Target protocol. The layers
    are the `defense` registry's (`babelsafe list defenses`)."""
    from ..registry import registry
    from ..spec import parse_step

    reg = registry("defense")
    out = target
    for d in defenses:
        if isinstance(d, str):
            name, opts = d, {}
        elif isinstance(d, dict):
            name, opts = d.get("name"), dict(d.get("options") or {})
        else:
            name, opts = d.name, dict(d.options or {})
        if isinstance(name, str) and ":" in name and not opts:  # --defense 'safety-prompt:prompt=pcdefense'
            step = parse_step(name)
            name, opts = step["name"], step["options"]
        out = reg.build(str(name), opts, ctx, out)
    return out


__all__ = ["wrap_target", "SafetyPrompt", "TranslatePivot", "GuardLayer", "LAYERS", "safety_prompts",
           "detect_language", "CONTENT_FILTER"]
