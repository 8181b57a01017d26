"""Helper-model plumbing shared by model-based transforms: translator calls through the run's context."""
from __future__ import annotations

import re
from typing import Any

from .. import languages as langs
from ..errors import UsageError
from ..types import Generation
from .base import data_yaml, helper_params


def lang_name(code: str) -> str:
    """English name of a language code ('bn' -> 'Bengali'); the code itself when unknown."""
    try:
        return langs.get(code).name
    except UsageError:
        return code


def lang_list(value: Any) -> list[str] | None:
    """Language codes from a list or a string; strings may use ',', '+', '|', ';' or spaces between
    codes (on the command line a ',' separates options, so write `to=zh+bn+sw`)."""
    if isinstance(value, str):
        value = re.sub(r"[+|;\s]+", ",", value)
    return langs.parse_list(value)


def resolve_ctx(ctx: Any, fallback: Any, who: str) -> Any:
    """The ModelContext to use: the one passed to apply(), else the one given at construction."""
    ctx = ctx if ctx is not None else fallback
    if ctx is None or not hasattr(ctx, "call"):
        raise UsageError(f"The '{who}' transform calls a model and needs a run context (ctx); run it through "
                         "babelsafe's runner or pass ctx=.")
    return ctx


def target_of(ctx: Any, spec: Any) -> Any:
    """Build (through the context, once per run) the helper target named by spec."""
    from ..spec import parse_target  # pydantic models: not needed to list the transforms

    return ctx.target(parse_target(spec))


def spec_label(spec: Any) -> Any:
    """A JSON-safe, secret-free description of a helper target spec for step params."""
    from ..spec import parse_target

    spec = parse_target(spec)
    if isinstance(spec, dict):
        return {k: v for k, v in spec.items() if "key" not in k.lower() or k == "api_key_env"}
    return spec


async def translate_text(ctx: Any, translator: Any, text: str, source: str, target: str, *,
                         max_tokens: int = 1024, purpose: str = "translate") -> Generation:
    """Ask `translator` to translate text from `source` into `target` (codes) via ctx.call."""
    prompt = data_yaml("prompts/translate.yaml")
    messages = [
        {"role": "system", "content": prompt["system"]},
        {"role": "user", "content": prompt["user"].format(source_name=lang_name(source),
                                                          target_name=lang_name(target), text=text)},
    ]
    return await ctx.call(translator, messages, helper_params(max_tokens), purpose=purpose)


def clean_output(text: str) -> str:
    """Strip whitespace and one pair of code fences a helper model may wrap its output in."""
    t = (text or "").strip()
    if t.startswith("```") and t.endswith("```") and len(t) > 6:
        t = t[3:-3]
        first, _, rest = t.partition("\n")
        t = rest if first.strip().isalpha() and rest else t  # drop a language tag line
        t = t.strip()
    return t
