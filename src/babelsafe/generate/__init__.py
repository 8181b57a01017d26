"""Generated test suites (ASTRAL, S-Eval): matrix.py (the coverage matrix), suite.py (generator, critic,
store), dedup.py (MinHash near-duplicate removal), prompts.yaml (the generator and critic prompts)."""
from __future__ import annotations

from .matrix import STYLES, TECHNIQUES, coverage
from .suite import GenerateResult, Generator

__all__ = ["Generator", "GenerateResult", "STYLES", "TECHNIQUES", "coverage"]
