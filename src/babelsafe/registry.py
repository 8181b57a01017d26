"""Named implementations of each pipeline stage.

Entries are import paths ("module:attr"), so `import babelsafe` stays light and heavy optional
dependencies are only imported when a component is used. The tables are constants; third-party
packages add components through the `babelsafe.<kind>s` entry-point groups.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import logging
import typing
from dataclasses import dataclass
from difflib import get_close_matches
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Mapping

from pydantic import TypeAdapter, ValidationError

from .errors import UsageError

log = logging.getLogger(__name__)

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
        "vlsbench": "babelsafe.datasets.multimodal:VLSBench",
        "mssbench": "babelsafe.datasets.multimodal:MSSBench",
        "mllmguard": "babelsafe.datasets.multimodal:MLLMGuard",
        "mild-images": "babelsafe.datasets.multimodal:MildImages",
        "mcq": "babelsafe.datasets.mcq:MCQFile",
        "lab-safety-mini": "babelsafe.datasets.mcq:LabSafetyMini",
        "helpful": "babelsafe.datasets.helpful:HelpfulFile",
        "helpful-mini": "babelsafe.datasets.helpful:HelpfulMini",
        "consistency": "babelsafe.xling.dataset:ConsistencyFile",
        "xling-mini": "babelsafe.xling.dataset:XlingMini",
        "agent-scenarios": "babelsafe.agents.dataset:AgentScenarios",
        "agent-safetybench": "babelsafe.agents.dataset:AgentSafetyBench",
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
        "typographic": "babelsafe.transforms.visual:Typographic",
        "split": "babelsafe.transforms.visual:Split",
        "leakcheck": "babelsafe.transforms.visual:LeakCheck",
    },
    "target": {
        "openai": "babelsafe.targets.openai_compat:OpenAITarget",
        "local": "babelsafe.targets.llamacpp:LlamaCppTarget",
        "transformers": "babelsafe.targets.hf_transformers:TransformersTarget",
        "transformers-vision": "babelsafe.targets.hf_vision:TransformersVisionTarget",
        "vllm": "babelsafe.targets.vllm_offline:VLLMTarget",
        "ed": "babelsafe.whitebox.ed:EDTarget",
        "steer": "babelsafe.whitebox.steer:SteerTarget",
        "heads": "babelsafe.whitebox.heads:HeadsTarget",
    },
    "judge": {
        "refusal": "babelsafe.judges.refusal:RefusalJudge",
        "cyberseceval-refusal": "babelsafe.judges.refusal:CyberSecEvalRefusalJudge",
        "xstest-strmatch": "babelsafe.judges.refusal:XSTestStringMatchJudge",
        "llm": "babelsafe.judges.llm:LLMJudge",
        "guard": "babelsafe.judges.guard:GuardJudge",
        "ensemble": "babelsafe.judges.ensemble:EnsembleJudge",
        "cascade": "babelsafe.judges.cascade:CascadeJudge",
        "mcq": "babelsafe.judges.mcq:MCQJudge",
        "answer-match": "babelsafe.judges.answer_match:AnswerMatchJudge",
        "consistency": "babelsafe.xling.judge:ConsistencyJudge",
        "agent-rules": "babelsafe.agents.judges:AgentRulesJudge",
        "agent-llm": "babelsafe.agents.judges:AgentLLMJudge",
    },
    # Tasks: probes whose sample sets meta["task"] are answered by a task (babelsafe.tasks.Task) instead
    # of one model call; its model calls go through ctx.call.
    "task": {
        "agent": "babelsafe.agents.loop:AgentTask",
        "consistency": "babelsafe.xling.task:ConsistencyTask",
    },
    "defense": {  # layers around a target (`--defense NAME`); built with the target they wrap
        "safety-prompt": "babelsafe.defense.layers:SafetyPrompt",
        "translate-pivot": "babelsafe.defense.layers:TranslatePivot",
        "guard": "babelsafe.defense.layers:GuardLayer",
    },
}
KINDS = tuple(_BUILTIN)

# Optional modules -> the extra that installs them (pyproject's [project.optional-dependencies]).
_EXTRAS = {"llama_cpp": "local", "transformers": "hf", "datasets": "hf", "vllm": "vllm", "fastapi": "serve",
           "uvicorn": "serve", "pyarrow": "report", "unidecode": "translit"}
# Constructor parameters that are not options a user gives.
_NOT_OPTIONS = ("self", "ctx", "inner", "kwargs", "rest", "_")





def install_hint(module: str | None) -> str:
    """The pip command that installs a missing optional module."""
    root = (module or "").split(".")[0]
    extra = _EXTRAS.get(root)
    return f"pip install 'babelsafe[{extra}]'" if extra else f"pip install {root or 'the missing package'}"


# Option values are checked against the constructor's annotations when those are plain scalars, so a bad
# value says what it should be (`shift must be an integer`) instead of failing somewhere inside.
_SCALARS = {int: "an integer", float: "a number", bool: "true or false"}


def _scalar(annotation: Any) -> type | None:
    """int / float / bool when `annotation` is one of them (or Optional of one), else None."""
    if annotation in _SCALARS:
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1 and args[0] in _SCALARS and type(None) in typing.get_args(annotation):
        return args[0]
    return None


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__ if inspect.isclass(cls) else cls)
    except Exception:  # unresolvable forward references: no checking, the constructor still validates
        return {}


def _check_types(kind: str, name: str, cls: Any, opts: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    out = dict(opts)
    for key, value in opts.items():
        typ = _scalar(hints.get(key))
        if typ is None or value is None:
            continue
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        bad = UsageError(f"Bad option for {kind} '{name}': {key} must be {_SCALARS[typ]}, got {value!r}. "
                         f"See `babelsafe show {kind} {name}` for its options and defaults.")
        if typ is int and isinstance(value, bool):
            raise bad
        try:
            out[key] = TypeAdapter(typ).validate_python(value)
        except ValidationError:
            raise bad from None
    return out


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
                f"Install it with: {install_hint(e.name)}"
            ) from e
        return getattr(obj, attr)

    def options(self, name: str) -> list[dict[str, Any]]:
        """The options `name` takes: [{"name", "default" (absent when required), "type"}]."""
        cls = self.get(name)
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            return []
        hints = _hints(cls)
        out = []
        for p in params.values():
            if p.name in _NOT_OPTIONS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            opt: dict[str, Any] = {"name": p.name}
            if p.default is not p.empty:
                opt["default"] = p.default
            if p.name in hints:
                opt["type"] = getattr(hints[p.name], "__name__", None) or str(hints[p.name]).replace("typing.", "")
            out.append(opt)
        return out

    def required_options(self, name: str) -> list[str]:
        """Options `name` cannot be built without: those without a default, plus what the class declares
        in `requires` ("a|b": one of a and b)."""
        declared = [r for r in getattr(self.get(name), "requires", ()) or ()]
        return [*self._signature_required(name), *declared]

    def _signature_required(self, name: str) -> list[str]:
        return [o["name"] for o in self.options(name) if "default" not in o]

    def check(self, name: str, options: dict[str, Any] | None = None) -> None:
        """Raise the UsageError that building `name` with `options` would, without building it (no model
        is loaded or called): unknown name, wrong option types, unknown or missing options."""
        cls = self.get(name)
        opts = _check_types(self.kind, name, cls, dict(options or {}))
        for req in self.required_options(name):
            if not any(alt in opts for alt in req.split("|")):
                raise UsageError(f"The {self.kind} '{name}' needs the option {' or '.join(req.split('|'))} "
                                 f"(see `babelsafe show {self.kind} {name}`).")
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            return
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return  # it takes any option and checks them itself
        valid = [o["name"] for o in self.options(name)]
        unknown = [k for k in opts if k not in valid]
        if unknown:
            raise UsageError(f"Bad options for {self.kind} '{name}': unknown {', '.join(unknown)}. Valid options: "
                             f"{', '.join(valid) or '(none)'}.")

    def build(self, name: str, options: dict[str, Any] | None = None, ctx: Any = None, *args: Any) -> Any:
        """An instance of `name` built with `options`; `ctx` is passed to constructors that take one
        (components that call models); `args` go first (a defense layer's inner target). Bad options
        give a UsageError saying which option is wrong and what is valid."""
        cls = self.get(name)
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        opts = _check_types(self.kind, name, cls, dict(options or {}))
        missing = [o for o in self._signature_required(name) if o not in opts]
        if missing:
            example = ",".join(f"{o}=..." for o in missing)
            raise UsageError(f"The {self.kind} '{name}' needs the option(s) {', '.join(missing)} "
                             f"(e.g. '{name}:{example}'; see `babelsafe show {self.kind} {name}`).")
        if "ctx" in params and ctx is not None:
            opts.setdefault("ctx", ctx)
        valid = [o["name"] for o in self.options(name)]
        try:
            return cls(*args, **opts)
        except TypeError as e:
            raise UsageError(f"Bad options for {self.kind} '{name}': {e}. Valid options: "
                             f"{', '.join(valid) or '(none)'}.") from e
        except ValueError as e:  # a constructor's own check of a value
            raise UsageError(f"Bad option for {self.kind} '{name}': {e}. Valid options: "
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


@functools.cache
def _load(kind: str) -> Registry:
    """Built-ins plus the `babelsafe.<kind>s` entry points, read once per process (see reload())."""
    entries = dict(_BUILTIN[kind])
    try:
        for ep in entry_points(group=f"babelsafe.{kind}s"):
            entries.setdefault(ep.name, ep.value)
    except Exception:  # a broken third-party plugin must not break babelsafe
        log.warning("could not read the babelsafe.%ss entry points; using the built-in %ss only", kind, kind,
                    exc_info=True)
    return Registry(kind, MappingProxyType(entries))


def reload() -> None:
    """Forget the cached tables (after installing a plugin package in a running process)."""
    _load.cache_clear()


def registry(kind: str) -> Registry:
    """The registry for 'dataset' | 'transform' | 'target' | 'judge' | 'defense' | 'task'."""
    if kind not in _BUILTIN:
        raise UsageError(f"Unknown component kind '{kind}'. Valid: {', '.join(_BUILTIN)}.")
    return _load(kind)
