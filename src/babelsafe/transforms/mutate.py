"""`mutate`: SORRY-Bench's linguistic mutations (writing styles, persuasion techniques) through a rewriter model."""
from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..types import Probe
from ._model import clean_output, resolve_ctx, spec_label, target_of
from .base import check_choice, data_yaml, derive, flagged, gen_error, gen_ok, helper_params
from .quality import chrf, reject_reason


def mutations() -> dict[str, dict[str, Any]]:
    """{key: {"group", "sorry_bench", "instruction", "kind"}} for every style and persuasion technique."""
    data = data_yaml("prompts/mutations.yaml")
    out = {}
    for kind in ("styles", "persuasion"):
        for key, val in data[kind].items():
            out[key] = {**val, "kind": kind}
    return out


class Mutate:
    """Linguistic mutations (SORRY-Bench): a rewriter model restyles the prompt (slang, technical terms, ...) or adds a persuasion technique.

    Options: `style` = question | slang | uncommon_dialects | technical_terms | role_play | misspellings,
    or `persuasion` = evidence | authority | expert_endorsement | logical_appeal | misrepresentation
    (exactly one of them); `target` (the rewriter target, required). Instruction texts are data:
    transforms/data/prompts/mutations.yaml (babelsafe's wording; SORRY-Bench's own prompts were not
    available). The rewriter is told to keep the request unchanged and never answer it.

    Quality gate (on by default, `check=false` turns it off; see transforms/quality.py): a rewrite that is a
    refusal, the prompt unchanged, in another language than the prompt, or an answer to the request is
    a `transform` error with the reason, never sent. chrF against the original is stored in the step
    params; `min_chrf` (default 0 = off: legitimate rewrites can score as low as refusals) rejects below it.
    """

    name = "mutate"
    requires = ("style|persuasion",)  # options without which it cannot be built ("a|b": one of them)
    decodes = False  # no decode(): answers are judged as written
    source = ("SORRY-Bench: Xie et al., ICLR 2025 (arXiv:2406.14598), linguistic mutations; persuasion "
              "taxonomy from Zeng et al., How Johnny Can Persuade LLMs to Jailbreak Them, ACL 2024 (arXiv:2401.06373)")
    languages = "any"
    license = "Apache-2.0 (babelsafe's own rewriting instructions)"

    def __init__(self, style: str | None = None, persuasion: str | None = None, target: Any = None,
                 max_tokens: int = 1024, check: bool = True, min_chrf: float = 0.0, ctx: Any = None):
        table = mutations()
        styles = [k for k, v in table.items() if v["kind"] == "styles"]
        techniques = [k for k, v in table.items() if v["kind"] == "persuasion"]
        if (style is None) == (persuasion is None):
            raise UsageError(f"mutate needs exactly one of style= ({', '.join(styles)}) or persuasion= "
                             f"({', '.join(techniques)}).")
        if style is not None:
            self.mutation = check_choice("style", style, styles)
        else:
            self.mutation = check_choice("persuasion", persuasion, techniques)
        if target is None:
            raise UsageError("mutate needs a rewriter target: target=<name or spec>.")
        self.target_spec = target
        self.max_tokens = int(max_tokens)
        self.check = bool(check)
        self.min_chrf = float(min_chrf or 0.0)
        self._ctx = ctx

    def messages(self, text: str) -> list[dict[str, str]]:
        data = data_yaml("prompts/mutations.yaml")
        instruction = mutations()[self.mutation]["instruction"]
        return [{"role": "system", "content": data["system"]},
                {"role": "user", "content": data["user"].format(instruction=instruction, text=text)}]

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        m = mutations()[self.mutation]
        params = {"mutation": self.mutation, "group": m["group"], "sorry_bench": m["sorry_bench"],
                  "rewriter": spec_label(self.target_spec)}
        ctx = resolve_ctx(ctx, self._ctx, self.name)
        gen = await ctx.call(target_of(ctx, self.target_spec), self.messages(probe.prompt_text),
                             helper_params(self.max_tokens), purpose="rewrite")
        if not gen_ok(gen):
            return [flagged(probe, self.name, params, gen_error(gen))]
        original = probe.prompt_text
        output = clean_output(gen.text or "")
        params["chrf"] = round(chrf(output, original), 2)
        reason = reject_reason(original, output, language=probe.language, source_language=probe.language,
                               rewrite=True) if self.check else None
        if reason is None and params["chrf"] < self.min_chrf:
            reason = f"chrF {params['chrf']:.1f} against the original < min_chrf {self.min_chrf:g}"
        if reason is not None:
            return [flagged(probe, self.name, {**params, "output": output, "rejected": reason},
                            f"quality gate: {reason}")]
        return [derive(probe, self.name, params, output, meta={"mutation": self.mutation})]
