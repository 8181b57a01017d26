"""Named implementations of each pipeline stage.

Entries are import paths ("module:attr"), so `import babelsafe` stays light and heavy optional
dependencies are only imported when a component is used. The tables are constants; third-party
packages add components through the `babelsafe.<kind>s` entry-point groups.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from difflib import get_close_matches
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Mapping

from .errors import UsageError

_BUILTIN: dict[str, dict[str, str]] = {
    "dataset": {
        "multijail": "babelsafe.datasets.multijail:MultiJail",
        "xsafety": "babelsafe.datasets.xsafety:XSafety",
        "xstest": "babelsafe.datasets.xstest:XSTest",
        "cyberseceval-frr": "babelsafe.datasets.cyberseceval:CyberSecEvalFRR",
        "cyberseceval-prompt-injection": "babelsafe.datasets.cyberseceval:CyberSecEvalPromptInjection",
        "harmfulqa": "babelsafe.datasets.redeval:HarmfulQA",
        "dangerousqa": "babelsafe.datasets.redeval:DangerousQA",
        "adversarialqa": "babelsafe.datasets.redeval:AdversarialQA",
        "catqa": "babelsafe.datasets.redeval:CatQA",
        "sorry-bench": "babelsafe.datasets.sorry_bench:SorryBench",
    },
    "transform": {
        "translate": "babelsafe.transforms.translate:Translate",
        "aim": "babelsafe.transforms.templates:AIM",
        "cou": "babelsafe.transforms.templates:CoU",
        "cot": "babelsafe.transforms.templates:CoT",
        "standard": "babelsafe.transforms.templates:Standard",
        "goal_hijacking": "babelsafe.transforms.templates:GoalHijacking",
        "prompt_leaking": "babelsafe.transforms.templates:PromptLeaking",
        "role_play": "babelsafe.transforms.templates:RolePlay",
        "unsafe_topic": "babelsafe.transforms.templates:UnsafeTopic",
        "unsafe_opinion": "babelsafe.transforms.templates:UnsafeOpinion",
        "reverse_exposure": "babelsafe.transforms.templates:ReverseExposure",
        "codeswitch": "babelsafe.transforms.codeswitch:CodeSwitch",
        "transliterate": "babelsafe.transforms.transliterate:Transliterate",
        "caesar": "babelsafe.transforms.ciphers:Caesar",
        "atbash": "babelsafe.transforms.ciphers:Atbash",
        "morse": "babelsafe.transforms.ciphers:Morse",
        "ascii": "babelsafe.transforms.ciphers:Ascii",
        "hex": "babelsafe.transforms.ciphers:Hex",
        "base64": "babelsafe.transforms.ciphers:Base64",
        "mutate": "babelsafe.transforms.mutate:Mutate",
        "longcontext": "babelsafe.transforms.longcontext:LongContext",
        "pcjailbreak": "babelsafe.transforms.pcjailbreak:PCJailbreak",
        "adaptive": "babelsafe.transforms.adaptive:Adaptive",
    },
    "target": {
        "openai": "babelsafe.targets.openai_compat:OpenAITarget",
        "local": "babelsafe.targets.llamacpp:LlamaCppTarget",
        "transformers": "babelsafe.targets.hf_transformers:TransformersTarget",
        "vllm": "babelsafe.targets.vllm_offline:VLLMTarget",
        "ed": "babelsafe.whitebox.ed:EDTarget",
        "steer": "babelsafe.whitebox.steer:SteerTarget",
        "heads": "babelsafe.whitebox.heads:HeadsTarget",
    },
    "judge": {
        "refusal": "babelsafe.judges.refusal:RefusalJudge",
        "cyberseceval-refusal": "babelsafe.judges.refusal:CyberSecEvalRefusalJudge",
        "llm": "babelsafe.judges.llm:LLMJudge",
        "guard": "babelsafe.judges.guard:GuardJudge",
        "ensemble": "babelsafe.judges.ensemble:EnsembleJudge",
    },
}


@dataclass(frozen=True)
class Registry:
    """Read-only name -> implementation table for one stage."""

    kind: str
    entries: Mapping[str, str]

    def names(self) -> list[str]:
        return sorted(self.entries)

    def get(self, name: str) -> Any:
        """The class/factory registered under name; a UsageError listing valid names otherwise."""
        path = self.entries.get(name)
        if path is None:
            close = get_close_matches(name, self.names(), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UsageError(
                f"Unknown {self.kind} '{name}'.{hint} Valid {self.kind}s: {', '.join(self.names())}."
            )
        module, _, attr = path.partition(":")
        try:
            obj = importlib.import_module(module)
        except ImportError as e:  # an optional extra is missing
            raise UsageError(
                f"The {self.kind} '{name}' needs an optional dependency that is not installed ({e.name}). "
                f"Install it with: pip install 'babelsafe[{_extra_for(name)}]'"
            ) from e
        return getattr(obj, attr)

    def build(self, name: str, options: dict[str, Any] | None = None, ctx: Any = None) -> Any:
        """An instance of `name` built with `options`; `ctx` is passed to constructors that take one
        (components that call models). Bad options give a UsageError listing the valid ones."""
        cls = self.get(name)
        opts = dict(options or {})
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "ctx" in params and ctx is not None:
            opts.setdefault("ctx", ctx)
        try:
            return cls(**opts)
        except TypeError as e:
            valid = [p for p in params if p not in ("ctx", "self", "kwargs", "_")]
            raise UsageError(f"Bad options for {self.kind} '{name}': {e}. Valid options: "
                             f"{', '.join(valid) or '(none)'}.") from e

    def describe(self, name: str) -> dict[str, Any]:
        """Metadata for `babelsafe list`: taken from class attributes and the docstring."""
        try:
            obj = self.get(name)
        except UsageError as e:
            return {"name": name, "description": f"(unavailable: {e})"}
        doc = (obj.__doc__ or "").strip().splitlines()
        info = {"name": name, "description": doc[0] if doc else ""}
        for attr in ("languages", "source", "license", "citation", "size", "categories", "labels", "tags"):
            val = getattr(obj, attr, None)
            if val:
                info[attr] = val
        return info


def _extra_for(name: str) -> str:
    return {"local": "local", "transformers": "hf", "vllm": "vllm", "ed": "whitebox", "steer": "whitebox",
            "heads": "whitebox"}.get(name, "all")


def _load(kind: str) -> Registry:
    entries = dict(_BUILTIN[kind])
    try:
        for ep in entry_points(group=f"babelsafe.{kind}s"):
            entries.setdefault(ep.name, ep.value)
    except Exception:  # a broken third-party plugin must not break babelsafe
        pass
    return Registry(kind, MappingProxyType(entries))


def registry(kind: str) -> Registry:
    """The registry for 'dataset' | 'transform' | 'target' | 'judge'."""
    if kind not in _BUILTIN:
        raise UsageError(f"Unknown component kind '{kind}'. Valid: {', '.join(_BUILTIN)}.")
    return _load(kind)
