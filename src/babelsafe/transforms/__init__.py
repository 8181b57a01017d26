"""Transforms and attacks. See base.Transform; `babelsafe list transforms` shows the built-in ones.

    from babelsafe.transforms import apply_chain, build_chain, decode_chain
    steps = build_chain([{"name": "aim"}, {"name": "caesar", "options": {"shift": 3}}])
    probes = await apply_chain(sample_or_probe, steps, ctx)
    decoded = decode_chain(probes[0], answer_text, steps)   # None when no step decodes
"""
from .base import Transform
from .chain import apply_chain, build_chain, build_step, decode_chain

__all__ = ["Transform", "apply_chain", "build_chain", "build_step", "decode_chain"]
