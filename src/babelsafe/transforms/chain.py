"""Running a chain of transforms on a probe, and undoing its encodings in an answer."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from ..types import Probe
from .base import first_probe

log = logging.getLogger("babelsafe.transforms")


def build_step(name: str, options: dict[str, Any] | None = None, ctx: Any = None) -> Any:
    """Instantiate the registered transform `name` with `options` (a UsageError names valid options).

    `ctx` is passed to constructors that accept it (model-based transforms)."""
    from ..registry import registry

    return registry("transform").build(name, options, ctx)


def build_chain(steps: Iterable[Any], ctx: Any = None) -> list[Any]:
    """Instantiate a chain from StepSpec-like items ({"name", "options"} dicts, objects with .name/.options,
    or already-built transforms)."""
    out = []
    for s in steps:
        if hasattr(s, "apply"):
            out.append(s)
        elif isinstance(s, dict):
            out.append(build_step(s["name"], s.get("options"), ctx))
        else:
            out.append(build_step(s.name, getattr(s, "options", None), ctx))
    return out


async def apply_chain(probe: Any, steps: list[Any], ctx: Any = None) -> list[Probe]:
    """Apply the transforms in order; each step maps every probe to zero or more probes.

    `probe` may also be a Sample (the chain then starts from its prompt as one user message). Probes
    flagged with meta["transform_error"] are not transformed further (they are returned as they are, so
    the failure stays visible)."""
    if not isinstance(probe, Probe):
        probe = first_probe(probe)
    probes = [probe]
    for step in steps:
        nxt: list[Probe] = []
        for p in probes:
            if p.meta.get("transform_error"):
                nxt.append(p)
                continue
            nxt.extend(await step.apply(p, ctx))
        probes = nxt
    return probes


def decode_chain(probe: Probe, text: str | None, steps: list[Any]) -> str | None:
    """Undo the chain's encodings in an answer: decoders run in reverse chain order.

    Returns None when no step has a decoder (the answer is judged as written)."""
    decoders = [s for s in steps if getattr(s, "decodes", False)]  # the protocol's flag (False if undeclared)
    if not decoders or text is None:
        return None
    for step in reversed(decoders):
        try:
            text = step.decode(probe, text)
        except Exception:  # a decoder must never break a run; judge the text as it is
            log.exception("decoder of transform %s failed; answer left as is", getattr(step, "name", step))
    return text
