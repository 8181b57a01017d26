"""From a spec to work: samples from the datasets, the first probe of a sample, a target's system
prompt, and the dry-run plan."""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from ..errors import UsageError
from ..spec import RunSpec
from ..taxonomy import dataset_taxonomy
from ..types import Probe, Sample
from .limits import estimate_tokens

log = logging.getLogger("babelsafe")


def load_samples(spec: RunSpec, taxonomies: dict[str, str] | None = None) -> list[Sample]:
    """Samples from every dataset, filtered by language/category, `limit` per (dataset, language).
    taxonomies: filled with dataset name -> the category taxonomy the dataset declares.

    Limiting ranks items by a seeded hash of their id, so parallel datasets keep the same prompts in
    every language (needed for cross-lingual consistency) and the choice is stable across resumes."""
    from ..datasets import resolve

    out: list[Sample] = []
    cats = {c.lower() for c in spec.categories} if spec.categories else None
    for dspec in spec.datasets:
        opts = dict(dspec.options)
        opts.setdefault("skip_bad_rows", spec.skip_bad_rows)
        ds = resolve(dspec.name, opts)
        by_lang: dict[str, list[Sample]] = {}
        for s in ds.load(spec.languages):
            if spec.languages and s.language not in spec.languages:
                continue
            if cats is not None:
                raw = str(s.meta.get("raw_category", "")).lower()
                if (s.category or "").lower() not in cats and raw not in cats:
                    continue
            by_lang.setdefault(s.language, []).append(s)
        if spec.languages:
            missing = [lang for lang in spec.languages if lang not in by_lang]
            if missing and not by_lang:
                avail = getattr(ds, "languages", None)
                raise UsageError(f"Dataset '{dspec.name}' has no prompts in {', '.join(missing)}"
                                 + (f"; it has: {', '.join(avail)}." if avail else "."))
            for lang in missing:
                log.warning("dataset %s has no prompts in %s", dspec.name, lang)
        if taxonomies is not None:
            declared = getattr(ds, "taxonomy", None)
            for name in {s.dataset for items in by_lang.values() for s in items}:
                taxonomies[name] = declared if isinstance(declared, str) else dataset_taxonomy(name)
        for lang, items in by_lang.items():
            if spec.limit is not None and len(items) > spec.limit:
                items = sorted(items, key=lambda s: hashlib.sha256(f"{spec.seed}:{s.id}".encode()).digest())
                items = items[: spec.limit]
            out.extend(items)
    return out


def initial_probe(sample: Sample) -> Probe:
    msgs = []
    if sample.meta.get("system"):
        msgs.append({"role": "system", "content": str(sample.meta["system"])})
    msgs.append({"role": "user", "content": sample.prompt})
    return Probe(sample=sample, messages=msgs, language=sample.language)


def with_system(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend a target's system prompt (merged with a probe's own system message, target's first)."""
    if not system_prompt:
        return messages
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{system_prompt}\n\n{messages[0]['content']}"}] + messages[1:]
    return [{"role": "system", "content": system_prompt}] + messages


def plan(spec: RunSpec) -> dict[str, Any]:
    """The dry-run plan: samples x chains x targets = requests, with token estimates."""
    samples = load_samples(spec)
    per_lang: dict[str, int] = {}
    for s in samples:
        per_lang[s.language] = per_lang.get(s.language, 0) + 1
    n_req = len(samples) * len(spec.transforms) * len(spec.targets)
    prompt_tokens = sum(estimate_tokens(s.prompt) for s in samples) * len(spec.transforms) * len(spec.targets)
    return {
        "samples": len(samples), "by_language": per_lang, "chains": [">".join(x.name for x in c) or "none"
                                                                      for c in spec.transforms],
        "targets": [t.display for t in spec.targets], "requests": n_req,
        "est_prompt_tokens": prompt_tokens,
        "max_completion_tokens": sum(t.max_tokens for t in spec.targets) * len(samples) * len(spec.transforms),
        "judges": [j.name for j in spec.judges], "out": spec.out,
        "note": "token estimates cover the dataset prompts; templates and model-based transforms add more",
    }
