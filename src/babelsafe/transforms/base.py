"""The Transform protocol: turns a probe into one or more probes (translate, wrap, mix, encode)."""
from __future__ import annotations

import copy
import logging
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol, runtime_checkable

from ..errors import UsageError
from ..types import OK, GenParams, Generation, Probe

log = logging.getLogger("babelsafe.transforms")


@runtime_checkable
class Transform(Protocol):
    """One step of a transform chain.

    `apply` receives the probe built so far (the first step gets the sample's prompt as a single user
    message) and returns new probes; each new probe appends a step record to `chain`
    ({"name": ..., "params": {...}, "output": <text>}). Model-based transforms make every call through
    `ctx.call(...)` (cached, resumable).

    Optional capability, declared by the flag `decodes`: when True the transform has
    `decode(probe, text) -> text`, which undoes an encoding in the answer before judging (ciphers); the
    runner applies decoders in reverse chain order.
    """

    name: str
    decodes: bool

    async def apply(self, probe: Probe, ctx: Any) -> list[Probe]: ...


# ---------------------------------------------------------------------------------------------------
# Helpers shared by the built-in transforms (not part of the protocol).


def derive(probe: Probe, name: str, params: dict[str, Any], text: str, *, language: str | None = None,
           meta: dict[str, Any] | None = None, system: str | None = None) -> Probe:
    """A NEW probe whose last user message is `text`, with a step record appended to the chain.

    Sample, messages, chain and meta are copied (the input probe is never mutated). Earlier messages
    (e.g. a system prompt) are kept. `system`, when given, replaces or adds the system message.
    """
    messages = [dict(m) for m in probe.messages]
    for m in reversed(messages):
        if m.get("role") == "user":
            m["content"] = text
            break
    else:
        messages.append({"role": "user", "content": text})
    if system is not None:
        if messages and messages[0].get("role") == "system":
            messages[0]["content"] = system
        else:
            messages.insert(0, {"role": "system", "content": system})
    new_meta = copy.deepcopy(probe.meta)
    if meta:
        new_meta.update(meta)
    chain = [copy.deepcopy(s) for s in probe.chain]
    chain.append({"name": name, "params": copy.deepcopy(params), "output": text})
    return Probe(sample=copy.deepcopy(probe.sample), messages=messages,
                 language=language or probe.language, chain=chain, meta=new_meta)


def first_probe(sample: Any, system: str | None = None) -> Probe:
    """The probe a chain starts from: the sample's prompt as one user message (optional system)."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": sample.prompt})
    return Probe(sample=sample, messages=messages, language=sample.language)


@lru_cache(maxsize=None)
def data_text(relpath: str) -> str:
    """Text of a file shipped under babelsafe/transforms/data/ (UTF-8, exactly as stored)."""
    try:
        return resources.files("babelsafe.transforms").joinpath("data", relpath).read_text("utf-8")
    except FileNotFoundError as e:  # a broken install, not a user error we can fix here
        raise UsageError(f"babelsafe data file transforms/data/{relpath} is missing; reinstall babelsafe.") from e


def data_yaml(relpath: str) -> Any:
    import yaml

    return yaml.safe_load(data_text(relpath))


def check_choice(option: str, value: Any, choices: Any) -> Any:
    """Validate an option against allowed values with a UsageError naming them."""
    if value not in choices:
        raise UsageError(f"Invalid {option}={value!r}. Valid values: {', '.join(map(str, choices))}.")
    return value


def gen_ok(gen: Generation) -> bool:
    """True when a helper-model call produced usable text."""
    return gen is not None and gen.outcome == OK and bool((gen.text or "").strip())


def gen_error(gen: Generation) -> str:
    if gen is None:
        return "no generation"
    if gen.outcome != OK:
        return f"{gen.outcome}: {gen.error or gen.error_kind or 'call failed'}"
    return "empty answer"


def helper_params(max_tokens: int = 1024, temperature: float = 0.0, seed: int | None = None) -> GenParams:
    return GenParams(temperature=temperature, max_tokens=max_tokens, seed=seed)


def flagged(probe: Probe, name: str, params: dict[str, Any], error: str, language: str | None = None) -> Probe:
    """The probe unchanged in text but with this step recorded and meta["transform_error"] set.

    The runner should not send such a probe to targets (its text is not what the chain promised); it
    stays in the store so failures are counted (per intended `language`)."""
    log.warning("transform %s failed for sample %s/%s (%s): %s", name, probe.sample.dataset,
                probe.sample.id, probe.language, error)
    return derive(probe, name, {**params, "error": error}, probe.prompt_text,
                  language=language, meta={"transform_error": f"{name}: {error}"})


def skipped(probe: Probe, name: str, params: dict[str, Any], reason: str) -> Probe:
    """The probe with this step recorded as NOT applied (`reason`): an attack that cannot apply to this
    prompt (a cipher on a script it cannot encode, code-switching into the prompt's own language) is
    never sent as if it had been applied. Stored like a transform error (excluded from rates) with
    error kind `not_applicable` and meta["transform_skipped"] = reason."""
    log.info("transform %s skipped for sample %s/%s (%s): %s", name, probe.sample.dataset, probe.sample.id,
             probe.language, reason)
    return derive(probe, name, {**params, "skipped": reason}, probe.prompt_text,
                  meta={"transform_error": f"{name}: not applicable: {reason}", "transform_skipped": reason})


def letter_coverage(text: str, can_encode: Any) -> tuple[float, int, int]:
    """(share of the letters in text that `can_encode(ch)` accepts, number of letters, letters of a
    non-Latin script); (1.0, 0, 0) without letters."""
    import unicodedata

    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0, 0, 0
    foreign = sum(1 for ch in letters if not ch.isascii() and "LATIN" not in unicodedata.name(ch, ""))
    return sum(1 for ch in letters if can_encode(ch)) / len(letters), len(letters), foreign
