"""Probes with images: the sample's images as the first user message's parts, and derived probes
whose last user message holds images (typographic, split)."""
from __future__ import annotations

import logging
from typing import Any

from ..types import Probe
from .media import Image, ImageError
from .parts import modality, replace_user_content, user_content
from .store import ImageStore

log = logging.getLogger(__name__)


def image_store(ctx: Any) -> ImageStore:
    """The run's image store (`ctx.images`); an in-memory one when the context has none."""
    store = getattr(ctx, "images", None)
    if store is None:
        store = ImageStore(None)
        try:
            ctx.images = store  # so later calls through the same context can resolve the refs
        except AttributeError:
            pass
    return store


def with_sample_images(probe: Probe, store: ImageStore) -> Probe:
    """The first probe of an image sample: its images stored, referenced before the prompt text.

    A bad image (missing, corrupt, too large, wrong format) does not stop the run: the probe carries
    meta["transform_error"], is never sent, and is stored as an error outcome with the reason."""
    images = getattr(probe.sample, "images", None) or []
    if not images:
        return probe
    try:
        refs = [store.put(Image.coerce(i)) for i in images]
    except ImageError as e:
        log.warning("sample %s/%s: %s", probe.sample.dataset, probe.sample.id, e)
        return Probe(sample=probe.sample, messages=probe.messages, language=probe.language,
                     chain=[{"name": "image", "params": {}, "output": ""}],
                     meta={**probe.meta, "transform_error": f"image: {e}", "modality": "image+text"})
    messages = replace_user_content(probe.messages, user_content(probe.prompt_text, refs))
    return Probe(sample=probe.sample, messages=messages, language=probe.language, chain=list(probe.chain),
                 meta={**probe.meta, "modality": modality(messages)})


def derive_with_images(probe: Probe, name: str, params: dict[str, Any], text: str,
                       refs: list[dict[str, Any]], *, output: str | None = None,
                       meta: dict[str, Any] | None = None) -> Probe:
    """A new probe (transforms.base.derive) whose last user message is `refs` + `text`."""
    from ..transforms.base import derive

    new = derive(probe, name, params, text, meta={**(meta or {})})
    new.messages = replace_user_content(new.messages, user_content(text, refs))
    new.chain[-1]["output"] = output if output is not None else text
    new.meta["modality"] = modality(new.messages)
    return new
