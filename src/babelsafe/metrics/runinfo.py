"""What a run was: versions, times, spec and components (never keys), datasets, token usage."""
from __future__ import annotations

from typing import Any

from ..results.readers import PER_ANSWER_KINDS, RunReader, loads
from ..scrub import scrub


def _f(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def run_metadata(reader: RunReader) -> dict[str, Any]:
    """Run metadata for the report: version, times, spec, components (scrubbed), datasets. Per-answer
    components (agent and consistency traces) stay in the store: `traces` counts them by kind."""
    meta = reader.meta()
    spec = loads(meta.get("spec")) if meta.get("spec") else None
    comps = {kind: {name: scrub(cfg) for name, cfg in by_name.items()}
             for kind, by_name in reader.components(exclude=PER_ANSWER_KINDS).items()}
    datasets = [{"name": d.name, "samples": d.samples, "languages": d.languages, **dataset_info(d.name)}
                for d in reader.dataset_sizes()]
    first, last = reader.generation_span()
    return {
        "babelsafe_version": meta.get("babelsafe_version"),
        "schema_version": meta.get("schema_version"),
        "created": _f(meta.get("created")), "started": _f(meta.get("started")),
        "finished": _f(meta.get("finished")), "interrupted": meta.get("interrupted") == "1",
        "first_generation": first, "last_generation": last,
        "seed": spec.get("seed") if isinstance(spec, dict) else None,
        "spec": scrub(spec) if isinstance(spec, dict) else None,
        "components": comps, "traces": reader.component_counts(PER_ANSWER_KINDS), "datasets": datasets,
    }


def registered_dataset(name: str) -> Any:
    """The registered dataset class of this name, or None (files, unknown names)."""
    try:
        from ..registry import registry
        reg = registry("dataset")
        if name not in reg.entries:
            return None
        return reg.get(name)
    except Exception:
        return None


def dataset_info(name: str) -> dict[str, Any]:
    """Version/license/source of a registered dataset (empty for files or unknown names)."""
    cls = registered_dataset(name)
    if cls is None:
        return {}
    info = {}
    for attr in ("version", "license", "source", "citation"):
        val = getattr(cls, attr, None)
        if isinstance(val, (str, int, float)) and val != "":
            info[attr] = val
    return info


def token_usage(reader: RunReader) -> dict[str, Any]:
    """Tokens per target (generations) and per component and purpose (every model call)."""
    by_target = {u.target: {"generations": u.generations, "prompt_tokens": u.prompt_tokens or 0,
                            "completion_tokens": u.completion_tokens or 0, "cached": u.cached or 0,
                            "mean_latency_s": u.mean_latency_s} for u in reader.target_usage()}
    calls = [{"component": c.component, "purpose": c.purpose, "calls": c.calls,
              "prompt_tokens": c.prompt_tokens or 0, "completion_tokens": c.completion_tokens or 0}
             for c in reader.call_usage()]
    src = calls if calls else list(by_target.values())
    total_p = sum(r["prompt_tokens"] for r in src)
    total_c = sum(r["completion_tokens"] for r in src)
    return {"by_target": by_target, "by_component": calls, "prompt_tokens": total_p,
            "completion_tokens": total_c, "total_tokens": total_p + total_c,
            "source": "calls" if calls else "generations"}
