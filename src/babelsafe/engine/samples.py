"""From a spec to work: samples from the datasets, the first probe of a sample, a target's system
prompt, and the dry-run plan."""
from __future__ import annotations

import hashlib
import heapq
import logging
from typing import Any, Iterable, Iterator

from ..errors import UsageError
from ..spec import RunSpec
from ..taxonomy import dataset_taxonomy
from ..types import Probe, Sample
from .limits import estimate_tokens

log = logging.getLogger("babelsafe")


def load_samples(spec: RunSpec, taxonomies: dict[str, str] | None = None) -> Iterator[Sample]:
    """Samples from every dataset, filtered by language/category, `limit` per (dataset, language), as
    a stream: nothing is materialised but the `limit` heaps (at most `limit` samples per language).
    taxonomies: filled with dataset name -> the category taxonomy the dataset declares, before the
    first sample of that dataset is yielded.

    Every dataset is resolved and opened here, before the first sample: a bad name, option or prompt
    file (files are validated when opened) fails at once, before any model call. A dataset without any
    prompt in the requested languages fails when the stream reaches its end.

    Limiting ranks items by a seeded hash of their id, so parallel datasets keep the same prompts in
    every language (needed for cross-lingual consistency) and the choice is stable across resumes.
    Without a limit samples come in the dataset's own order; with one, per language (in the order
    languages first appear), each language in dataset order when it has <= limit items and in hash
    order otherwise."""
    from ..datasets import resolve

    opened = []
    for dspec in spec.datasets:
        opts = dict(dspec.options)
        opts.setdefault("skip_bad_rows", spec.skip_bad_rows)
        ds = resolve(dspec.name, opts)
        opened.append((dspec.name, ds, ds.load(spec.languages)))
    return _stream(spec, opened, taxonomies)


def _stream(spec: RunSpec, opened: list[tuple[str, Any, Iterable[Sample]]],
            taxonomies: dict[str, str] | None) -> Iterator[Sample]:
    cats = {c.lower() for c in spec.categories} if spec.categories else None
    wanted = set(spec.languages) if spec.languages else None
    for name, ds, loaded in opened:
        seen: dict[str, int] = {}  # language -> samples kept (before the limit), in first-seen order
        heaps: dict[str, list[tuple[bytes, int, Sample]]] = {}
        for s in loaded:
            if wanted is not None and s.language not in wanted:
                continue
            if cats is not None:
                raw = str(s.meta.get("raw_category", "")).lower()
                if (s.category or "").lower() not in cats and raw not in cats:
                    continue
            n = seen.get(s.language, 0)
            seen[s.language] = n + 1
            if taxonomies is not None and s.dataset not in taxonomies:
                declared = getattr(ds, "taxonomy", None)
                taxonomies[s.dataset] = declared if isinstance(declared, str) else dataset_taxonomy(s.dataset)
            if spec.limit is None:
                yield s
                continue
            # keep the `limit` smallest hashes: a max-heap by negated hash bytes (ties: dataset order)
            h = hashlib.sha256(f"{spec.seed}:{s.id}".encode()).digest()
            heap = heaps.setdefault(s.language, [])
            item = (_neg(h), -n, s)
            if len(heap) < spec.limit:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
        if spec.languages:
            missing = [lang for lang in spec.languages if lang not in seen]
            if missing and not seen:
                avail = getattr(ds, "languages", None)
                raise UsageError(f"Dataset '{name}' has no prompts in {', '.join(missing)}"
                                 + (f"; it has: {', '.join(avail)}." if avail else "."))
            for lang in missing:
                log.warning("dataset %s has no prompts in %s", name, lang)
        for lang in seen if spec.limit is not None else ():
            heap = heaps.get(lang, [])
            if seen[lang] > spec.limit:  # hash order (as when the whole language was sorted by hash)
                heap.sort(key=lambda t: (_neg(t[0]), -t[1]))
            else:  # under the limit: every item, in dataset order
                heap.sort(key=lambda t: -t[1])
            for _, _, s in heap:
                yield s
            heaps[lang] = []


def _neg(h: bytes) -> bytes:
    """A byte string that sorts in the reverse order of `h` (same length)."""
    return bytes(255 - b for b in h)


def initial_probe(sample: Sample, images: Any = None) -> Probe:
    """The sample as messages: its system message (if any), then the prompt with the sample's images
    (stored in `images`, an ImageStore) before it."""
    msgs = []
    if sample.meta.get("system"):
        msgs.append({"role": "system", "content": str(sample.meta["system"])})
    msgs.append({"role": "user", "content": sample.prompt})
    probe = Probe(sample=sample, messages=msgs, language=sample.language)
    if sample.images:
        from ..images.probes import with_sample_images
        from ..images.store import ImageStore

        probe = with_sample_images(probe, images if images is not None else ImageStore(None))
    return probe


def with_system(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend a target's system prompt (merged with a probe's own system message, target's first)."""
    if not system_prompt:
        return messages
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{system_prompt}\n\n{messages[0]['content']}"}] + messages[1:]
    return [{"role": "system", "content": system_prompt}] + messages


def plan(spec: RunSpec) -> dict[str, Any]:
    """The dry-run plan: samples x chains x targets = requests, with token estimates."""
    per_lang: dict[str, int] = {}
    n_samples = tokens = 0
    for s in load_samples(spec):  # one streaming pass: counts, never the list
        per_lang[s.language] = per_lang.get(s.language, 0) + 1
        n_samples += 1
        tokens += estimate_tokens(s.prompt)
    n_req = n_samples * len(spec.transforms) * len(spec.targets)
    prompt_tokens = tokens * len(spec.transforms) * len(spec.targets)
    return {
        "samples": n_samples, "by_language": per_lang, "chains": [">".join(x.name for x in c) or "none"
                                                                      for c in spec.transforms],
        "targets": [t.display for t in spec.targets], "requests": n_req,
        "est_prompt_tokens": prompt_tokens,
        "max_completion_tokens": sum(t.max_tokens for t in spec.targets) * n_samples * len(spec.transforms),
        "judges": [j.name for j in spec.judges], "out": spec.out,
        "note": "token estimates cover the dataset prompts; templates and model-based transforms add more",
    }
