"""RunSpec: everything a run needs, from YAML or CLI flags (flags override the file)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import languages as langs
from .errors import UsageError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Model):
    """A registry name (`multijail`), a file path (CSV/JSONL/Parquet) or `hf:ORG/NAME[:split]`."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. columns mapping, split, subset


def dataset_item(text: str) -> dict[str, Any]:
    """'multijail' | 'my.csv' | 'hf:ORG/NAME:split' | compact options 'lab-safety-mini:variant=both'
    (NAME:key=value,...: a registry name followed by options; files and hf: names are taken as they are)."""
    name, sep, rest = text.partition(":")
    if sep and "=" in rest and not text.startswith("hf:") and not Path(text).exists() and "/" not in name:
        return parse_step(text)
    return {"name": text}


class StepSpec(_Model):
    """One transform step: a registry name plus its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class TargetSpec(_Model):
    """A model to query, with its generation parameters. The API key is never stored: only the name of
    the environment variable holding it."""

    type: str = "local"
    label: str | None = None  # how the target is named in the store and reports
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    system_prompt: str | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # backend-specific: n_threads, batch_size, ...
    concurrency: int | None = None  # overrides the run's
    rpm: float | None = None
    tpm: float | None = None
    defenses: list[StepSpec] = Field(default_factory=list)

    @field_validator("defenses", mode="before")
    @classmethod
    def _defenses(cls, v: Any) -> Any:
        v = [v] if isinstance(v, (str, dict)) else (v or [])
        return [parse_step(d) for d in v]

    @model_validator(mode="before")
    @classmethod
    def _compact_type(cls, v: Any) -> Any:
        """`type: 'ed:aligned=A,base=B'` (e.g. from --target) is the compact form: split it like a string
        spec, so `--target steer:model=M,layer=3` works like `--target steer --model model=M,layer=3`."""
        if isinstance(v, dict) and isinstance(v.get("type"), str) and ":" in v["type"] and not v.get("model") \
                and not v["type"].startswith(("http://", "https://", "{")):
            v = {**v, **parse_target(v["type"])}
        return v

    def constructor_options(self) -> dict[str, Any]:
        """Keyword arguments for the target class: `options` plus model, base_url and api_key_env."""
        opts = dict(self.options)
        for k in ("model", "base_url", "api_key_env"):
            v = getattr(self, k)
            if v is not None:
                opts[k] = v
        return opts

    @property
    def display(self) -> str:
        """The target's name in the store and reports; defenses are part of it, so a defended run in the
        same directory never reuses the undefended answers."""
        if self.label:
            return self.label
        base = f"{self.type}:{self.model}" if self.model else self.type
        return base + "".join(f"+{d.name}" for d in self.defenses)


class JudgeSpec(_Model):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


def parse_target(spec: Any) -> Any:
    """A target spec from a compact string: JSON ('{"type": "openai", ...}'), 'TYPE:MODEL[@BASE_URL]'
    (e.g. `openai:gpt-4o-mini@http://127.0.0.1:8000/v1`) or a bare type name; dicts and None pass through."""
    if not isinstance(spec, str):
        return spec
    s = spec.strip()
    if s.startswith("{"):
        import json

        try:
            return json.loads(s)
        except json.JSONDecodeError as e:
            raise UsageError(f"Target spec is not valid JSON: {e}") from e
    if ":" in s and not s.startswith(("http://", "https://")):
        type_, _, rest = s.partition(":")
        model, _, base_url = rest.partition("@")
        out: dict[str, Any] = {"type": type_.strip(), "model": model.strip()}
        if base_url.strip():
            out["base_url"] = base_url.strip()
        return out
    return s


def target_spec(spec: Any) -> "TargetSpec":
    """A validated TargetSpec from a TargetSpec, a dict, or a compact string (see parse_target)."""
    if isinstance(spec, TargetSpec):
        return spec
    spec = parse_target(spec)
    try:
        return TargetSpec(type=spec) if isinstance(spec, str) else TargetSpec.model_validate(spec)
    except ValidationError as e:
        raise UsageError(f"Invalid target spec {spec!r}: {e.errors()[0]['msg']}") from e


_OPEN, _CLOSE = "[{", "]}"


def split_top(text: str, sep: str) -> list[str]:
    """Split `text` on `sep` outside brackets, braces and quotes ("a=[x,y],b=1" -> ["a=[x,y]", "b=1"]).

    Unbalanced brackets or quotes are a UsageError (never a YAML traceback)."""
    parts: list[str] = []
    depth: list[str] = []
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and text[start:i].rstrip()[-1:] in ("", "=", "[", "{", ":", ","):
            quote = ch  # a quote opens only where a value starts (an apostrophe inside a word is text)
        elif ch in _OPEN:
            depth.append(_CLOSE[_OPEN.index(ch)])
        elif ch in _CLOSE:
            if not depth or depth.pop() != ch:
                raise UsageError(f"Unbalanced '{ch}' in '{text}' (at character {i + 1}).")
        elif ch == sep and not depth:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise UsageError(f"Unclosed {quote or depth[-1]!r} in '{text}': close every bracket and quote.")
    parts.append(text[start:])
    return parts


def parse_value(value: str, key: str = "", where: str = "") -> Any:
    """One compact option value: YAML scalars (3, 0.5, true, null, text) and flow lists/maps ([a,b],
    {k: v}). A malformed value is a UsageError naming it."""
    v = value.strip()
    try:
        return yaml.safe_load(v) if v else ""
    except yaml.YAMLError as e:
        mark = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"Cannot read the value of '{key}' in '{where}': {v!r} ({mark}). Lists are written "
                         "key=[a,b] or key=a+b; quote text with commas or colons: key='a, b'.") from None


def as_list(value: Any, what: str = "value") -> list[Any]:
    """A list option from a list, or from a compact string 'a+b' / 'a,b' / '[a,b]' (a string is never
    iterated character by character)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            got = parse_value(s, what, s)
            return list(got) if isinstance(got, list) else [got]
        items = [x.strip() for x in split_top(s.replace("+", ","), ",")]
        return [x for x in items if x]
    return [value]


def parse_step(item: Any) -> dict[str, Any]:
    """'aim' | 'codeswitch:ratio=0.3,lang=en' | 'ensemble:members=[refusal,llm],mode=any_unsafe'
    | {'name':..., 'options':...} | {'aim': {...}}. Commas inside brackets or quotes do not separate
    options; every malformed option is a UsageError that shows the expected form."""
    if isinstance(item, StepSpec):
        return item.model_dump()
    if isinstance(item, str):
        name, _, rest = item.strip().partition(":")
        if not name.strip():
            raise UsageError(f"'{item}' has no component name before ':' (expected NAME:key=value,...).")
        opts: dict[str, Any] = {}
        for kv in split_top(rest, ","):
            if not kv.strip():
                continue
            k, sep, v = kv.partition("=")
            k = k.strip()
            if not sep or not k:
                raise UsageError(f"Bad option '{kv.strip()}' in '{item}': expected key=value "
                                 "(e.g. codeswitch:lang=zh,ratio=0.3).")
            if k in opts:
                raise UsageError(f"Option '{k}' is given twice in '{item}'.")
            opts[k] = parse_value(v, k, item)
        return {"name": name.strip(), "options": opts}
    if isinstance(item, dict) and "name" not in item and len(item) == 1:
        (name, opts), = item.items()
        return {"name": name, "options": opts or {}}
    return item


class ExecutorSpec(_Model):
    """Where a run executes: `local` (this process) or `ray` (shards across Ray actors; docs/distributed.md).

    address: None starts a private local Ray cluster; "auto" or "ray://HOST:PORT" joins an existing one.
    workers: Ray actors (shards); default 2. gpus_per_worker / cpus_per_worker: resources each actor holds."""

    name: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    max_restarts: int = 3  # replacements of a dead worker per shard before the run fails

    @model_validator(mode="after")
    def _check(self) -> "ExecutorSpec":
        if self.workers is not None and self.workers < 1:
            raise ValueError("executor workers must be >= 1")
        if self.gpus_per_worker < 0 or self.cpus_per_worker < 0:
            raise ValueError("executor resources must be >= 0")
        return self


class RunSpec(_Model):
    """A whole run. `transforms` is a list of chains; each chain is applied to every sample
    (chain [] = the prompt as is), so `--transform none --transform aim` gives baseline and attack."""

    datasets: list[DatasetSpec] = Field(default_factory=lambda: [DatasetSpec(name="multijail")])
    languages: list[str] | None = None
    categories: list[str] | None = None
    limit: int | None = None  # per language
    seed: int = 0
    transforms: list[list[StepSpec]] = Field(default_factory=lambda: [[]])
    targets: list[TargetSpec] = Field(default_factory=lambda: [TargetSpec()])
    judges: list[JudgeSpec] = Field(default_factory=lambda: [JudgeSpec(name="refusal")])
    concurrency: int = 32
    retries: int = 4
    timeout: float = 60.0
    rpm: float | None = None
    tpm: float | None = None
    out: str = "runs/latest"
    cache: bool = True
    skip_bad_rows: bool = False
    tiers: dict[str, str] | None = None  # language -> tier overrides
    safety_config: list[str] | None = None  # harm categories allowed (CoSA-Score); None = no CoSA-Score
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)

    @field_validator("executor", mode="before")
    @classmethod
    def _executor(cls, v: Any) -> Any:
        if v is None:
            return {}
        return {"name": v} if isinstance(v, str) else v

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets(cls, v: Any) -> Any:
        v = [v] if isinstance(v, (str, dict)) else v
        return [dataset_item(d) if isinstance(d, str) else d for d in v]

    @field_validator("judges", mode="before")
    @classmethod
    def _judges(cls, v: Any) -> Any:
        v = [v] if isinstance(v, (str, dict)) else v
        return [parse_step(j) for j in v]

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, v: Any) -> Any:
        v = [v] if isinstance(v, (str, dict)) else v
        return [{"type": t} if isinstance(t, str) else t for t in v]

    @field_validator("transforms", mode="before")
    @classmethod
    def _transforms(cls, v: Any) -> Any:
        if v is None:
            return [[]]
        v = [v] if isinstance(v, (str, dict)) else v
        chains = []
        for chain in v:
            if isinstance(chain, str):
                chain = [] if chain.strip() in ("", "none") else split_top(chain, ">")
            elif isinstance(chain, dict):
                chain = [chain]
            chains.append([parse_step(s) for s in chain])
        return chains or [[]]

    @field_validator("languages", mode="before")
    @classmethod
    def _langs(cls, v: Any) -> Any:
        return langs.parse_list(v)

    @field_validator("categories", "safety_config", mode="before")
    @classmethod
    def _cats(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [c.strip() for c in v.split(",") if c.strip()]
        return v or None

    @model_validator(mode="after")
    def _check(self) -> "RunSpec":
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if not self.targets:
            raise ValueError("at least one target is needed")
        return self


# Settings of the first target that a run accepts directly (CLI flags `--model`, `--option` ...; Python
# keyword arguments `babelsafe.run(model=...)`). `target` is the target's type.
TARGET_OVERRIDES = ("target", "label", "model", "base_url", "api_key_env", "system_prompt", "temperature",
                    "max_tokens", "top_p", "stop", "extra_body", "options", "defenses")


def merge_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`data` (run settings) with `overrides` applied; overrides whose value is None are not given.

    Run settings replace the data's. Target settings (TARGET_OVERRIDES) go to the first target: `options`
    merge into its options, the rest replace; a new `target` type without a `model` drops the old model
    (it belonged to the other backend)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    tgt = {k: given.pop(k) for k in TARGET_OVERRIDES if k in given}
    if isinstance(given.get("executor"), dict) and isinstance(data.get("executor"), dict):
        given["executor"] = {**data["executor"], **given["executor"]}  # --workers keeps the file's address
    out = {**data, **given}
    if not tgt:
        return out
    if "target" in tgt:
        tgt["type"] = tgt.pop("target")
    targets = out.get("targets")
    targets = [targets] if isinstance(targets, (str, dict, TargetSpec)) else list(targets or [{}])
    first = targets[0] if targets else {}
    if isinstance(first, TargetSpec):
        first = first.model_dump()
    elif isinstance(first, str):
        first = {"type": first}
    first = dict(first)
    if "options" in tgt:
        tgt["options"] = {**(first.get("options") or {}), **tgt["options"]}
    if "type" in tgt and "model" not in tgt and tgt["type"] != first.get("type", "local"):
        first.pop("model", None)
    first.update(tgt)
    out["targets"] = [first, *targets[1:]]
    return out


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The settings mapping of a YAML spec file (UsageError when missing or not a mapping)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"Spec file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UsageError(f"Cannot parse spec file {p}: {e}") from e
    if not isinstance(data, dict):
        raise UsageError(f"Spec file {p} must hold a mapping of run settings.")
    return data


def load_spec(path: str | Path | None = None, **overrides: Any) -> RunSpec:
    """Load a YAML spec (or start from defaults) and apply overrides whose value is not None (run settings,
    and the first target's settings named in TARGET_OVERRIDES)."""
    data = read_spec_file(path) if path is not None else {}
    return build_spec(merge_overrides(data, overrides))


def resolve_spec(spec: "RunSpec | dict[str, Any] | str | Path | None" = None, **overrides: Any) -> RunSpec:
    """A RunSpec from a RunSpec, a dict of settings, a YAML path or None (defaults), with overrides."""
    if spec is None or isinstance(spec, (str, Path)):
        return load_spec(spec, **overrides)
    if isinstance(spec, RunSpec):
        if not any(v is not None for v in overrides.values()):
            return spec
        spec = spec.model_dump()
    if not isinstance(spec, dict):
        raise UsageError(f"A run spec is a RunSpec, a dict or a YAML path, not {type(spec).__name__}.")
    return build_spec(merge_overrides(spec, overrides))


def parse_key_values(items: list[str] | None, what: str = "--option") -> dict[str, Any] | None:
    """['n_threads=2', 'transport=raw'] -> {'n_threads': 2, 'transport': 'raw'} (values read as YAML)."""
    if not items:
        return None
    out: dict[str, Any] = {}
    for kv in items:
        k, sep, v = kv.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"{what} expects KEY=VALUE, got '{kv}'.")
        out[k.strip()] = yaml.safe_load(v)
    return out


def parse_json_object(text: str | None, what: str) -> dict[str, Any] | None:
    """A JSON object given on the command line (None when not given); UsageError naming the flag."""
    if text is None or not text.strip():
        return None
    import json

    try:
        val = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{what} is not valid JSON ({e.msg} at column {e.colno}); give an object like "
                         "'{\"key\": \"value\"}'.") from e
    if not isinstance(val, dict):
        raise UsageError(f"{what} must be a JSON object like '{{\"key\": \"value\"}}', not "
                         f"{type(val).__name__}.")
    return val


def build_spec(data: dict[str, Any]) -> RunSpec:
    try:
        return RunSpec.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'spec'}: {err['msg']}" for err in e.errors())
        raise UsageError(f"Invalid run spec: {problems}") from e


def dump_spec(spec: RunSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
