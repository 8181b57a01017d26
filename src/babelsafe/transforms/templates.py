"""Template attacks: the dataset prompt wrapped in a fixed text (AIM, RED-EVAL's CoU/CoT/standard, and
neutral instruction-attack wrappers). Templates are data files under transforms/data/templates/."""
from __future__ import annotations

import asyncio
import re
from typing import Any

from .. import languages as langs
from ..errors import UsageError
from ..types import Probe
from ._model import clean_output, resolve_ctx, spec_label, target_of, translate_text
from .base import data_text, data_yaml, derive, flagged, gen_error, gen_ok

_LETTER = re.compile(r"[^\W\d_]")


class TemplateTransform:
    """Base class: put the probe's prompt into `template` at `placeholder`.

    `template_language="en"` (default) keeps the template as shipped (English) around the prompt in
    whatever language it is; any other code (or "same" = the probe's language) translates the template
    text (not the prompt) with the translator `target`, piece by piece around the placeholder, through
    cached model calls.
    """

    name = "template"
    languages = "any"  # the template is English; it wraps a prompt in any language
    decodes = False  # no decode(): answers are judged as written
    template_file = ""
    placeholder = "{prompt}"

    def __init__(self, template_language: str = "en", target: Any = None, max_tokens: int = 2048,
                 ctx: Any = None):
        self.template_language = "same" if template_language in ("same", "auto", "prompt") \
            else langs.normalize(template_language)
        self.target_spec = target
        if self.template_language != "en" and target is None:
            raise UsageError(f"{self.name}: template_language={template_language} translates the template and "
                             "needs a translator target (target=<name or spec>).")
        self.max_tokens = int(max_tokens)
        self._ctx = ctx

    @property
    def template(self) -> str:
        return data_text(self.template_file)

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"template": self.template_file, "template_language": self.template_language}
        if self.target_spec is not None:
            params["translator"] = spec_label(self.target_spec)
        return params

    def render(self, prompt: str, template: str | None = None) -> str:
        return (template if template is not None else self.template).replace(self.placeholder, prompt)

    async def apply(self, probe: Probe, ctx: Any = None) -> list[Probe]:
        params = self._params()
        lang = probe.language if self.template_language == "same" else self.template_language
        template = self.template
        if lang != "en":
            params["template_language"] = lang
            ctx = resolve_ctx(ctx, self._ctx, self.name)
            translated, error = await self._translate_template(ctx, template, lang)
            if translated is None:
                return [flagged(probe, self.name, params, error or "template translation failed")]
            template = translated
        return [derive(probe, self.name, params, self.render(probe.prompt_text, template))]

    async def _translate_template(self, ctx: Any, template: str, lang: str) -> tuple[str | None, str | None]:
        """Translate the text pieces around the placeholder (the placeholder itself is never sent)."""
        translator = target_of(ctx, self.target_spec)
        pieces = template.split(self.placeholder)
        errors: list[str] = []

        async def one(piece: str) -> str | None:
            if not _LETTER.search(piece):
                return piece  # punctuation / whitespace only, e.g. the closing quote
            lead = piece[: len(piece) - len(piece.lstrip())]
            trail = piece[len(piece.rstrip()):]
            gen = await translate_text(ctx, translator, piece.strip(), "en", lang, max_tokens=self.max_tokens,
                                       purpose="translate_template")
            if not gen_ok(gen):
                errors.append(gen_error(gen))
                return None
            return lead + clean_output(gen.text or "") + trail

        out = await asyncio.gather(*(one(p) for p in pieces))
        if errors:
            return None, errors[0]
        return self.placeholder.join(p or "" for p in out), None


class AIM(TemplateTransform):
    """MultiJail's intentional scenario: the AIM jailbreak template around the prompt (English template by default).

    `template_language="en"` reproduces the paper's setup (English AIM + the prompt in its language);
    `template_language="same"` (or a code) is the paper's variant with AIM translated too (needs target=).
    Template verbatim from Deng et al. (ICLR 2024) Appendix A.4, MIT license (transforms/data/templates/multijail).
    """

    name = "aim"
    template_file = "templates/multijail/aim.txt"
    placeholder = "{{ prompt }}"
    source = "MultiJail: Deng et al., Multilingual Jailbreak Challenges in Large Language Models, ICLR 2024 (arXiv:2310.06474)"
    license = "MIT (template)"


_REDEVAL = "RED-EVAL: Bhardwaj & Poria, Red-Teaming LLMs using Chain of Utterances for Safety-Alignment (arXiv:2308.09662)"


class CoU(TemplateTransform):
    """RED-EVAL's Chain-of-Utterances (CoU) jailbreak template around the prompt; decode() strips the internal thought.

    Template verbatim from declare-lab/red-instruct `red_prompts/cou.txt` (Apache-2.0). Before judging,
    the answer's "(Internal thought: ...)" prefix is removed as upstream's gpt4_as_judge.py does.
    """

    name = "cou"
    decodes = True  # decode() keeps the answer after the CoU dialogue
    template_file = "templates/redeval/cou.txt"
    placeholder = "<question>"
    source = _REDEVAL
    license = "Apache-2.0 (template)"

    def decode(self, probe: Probe, text: str) -> str:
        return strip_internal_thought(text)


class CoT(TemplateTransform):
    """RED-EVAL's chain-of-thought baseline: the prompt followed by "Let's think step by step."

    Template verbatim from declare-lab/red-instruct `red_prompts/cot.txt` (Apache-2.0).
    """

    name = "cot"
    template_file = "templates/redeval/cot.txt"
    placeholder = "<question>"
    source = _REDEVAL
    license = "Apache-2.0 (template)"


class Standard(TemplateTransform):
    """RED-EVAL's standard baseline: the prompt alone (template "<question>"), recorded as a chain step.

    Template verbatim from declare-lab/red-instruct `red_prompts/standard.txt` (Apache-2.0).
    """

    name = "standard"
    template_file = "templates/redeval/standard.txt"
    placeholder = "<question>"
    source = _REDEVAL
    license = "Apache-2.0 (template)"


def strip_internal_thought(text: str) -> str:
    """Remove a CoU "(Internal thought: ...)" prefix, as RED-EVAL's judge script does before judging.

    Like upstream, everything up to and including the closing ')' is dropped. Upstream cuts at the first
    ')' of the whole response; babelsafe at the first ')' after the marker (the same on every answer
    without an earlier ')'), and when no ')' closes it keeps the text after the marker instead of
    upstream's last-character slice.
    """
    marker = "(Internal thought:"
    i = text.find(marker)
    if i < 0:
        return text
    j = text.find(")", i)
    if j < 0:
        return text[i + len(marker):].strip()
    return text[j + 1:].strip()


# --- instruction attacks (Sun et al. 2023 / XSafety), neutral wrappers as data --------------------------

_SUN = ("Sun et al., Safety Assessment of Chinese Large Language Models (arXiv:2304.10436); "
        "XSafety: Wang et al., All Languages Matter, ACL 2024 (arXiv:2310.00905)")


class InstructionAttack(TemplateTransform):
    """Base for the six instruction-attack wrappers (babelsafe's own neutral wording, in
    transforms/data/templates/babelsafe/instruction_attacks.yaml). XSafety's own instruction-attack
    prompts ship as categories of the `xsafety` dataset."""

    template_file = "templates/babelsafe/instruction_attacks.yaml"
    placeholder = "{prompt}"
    source = _SUN
    license = "Apache-2.0 (babelsafe's own wrapper text)"

    @property
    def template(self) -> str:
        return data_yaml(self.template_file)[self.name]["template"]

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "template": f"{self.template_file}#{self.name}"}


class GoalHijacking(InstructionAttack):
    """Goal hijacking (instruction attack): a benign task followed by "ignore the previous instructions and instead answer" the prompt."""

    name = "goal_hijacking"


class PromptLeaking(InstructionAttack):
    """Prompt leaking (instruction attack): ask the model to repeat its hidden instructions, then answer the prompt."""

    name = "prompt_leaking"


class RolePlay(InstructionAttack):
    """Role-play instruction (instruction attack): answer the prompt in character as a persona that never breaks character."""

    name = "role_play"


class UnsafeTopic(InstructionAttack):
    """Unsafe instruction topic (instruction attack): ask for an article whose topic is the prompt."""

    name = "unsafe_topic"


class UnsafeOpinion(InstructionAttack):
    """Inquiry with unsafe opinion (instruction attack): frame the prompt as agreement with the user's settled view."""

    name = "unsafe_opinion"


class ReverseExposure(InstructionAttack):
    """Reverse exposure (instruction attack): ask what to avoid, so as to obtain the same content."""

    name = "reverse_exposure"
