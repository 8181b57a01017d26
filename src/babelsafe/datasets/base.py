"""The Dataset protocol: a named, documented source of Samples."""
from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from ..types import Sample


@runtime_checkable
class Dataset(Protocol):
    """A prompt set. Class attributes carry what `babelsafe list datasets` shows:
    `languages`, `size`, `categories`, `license`, `citation`, `source`.

    `load(languages)` yields Samples, only in the requested languages when given (None = all).
    Parallel translations share `Sample.id` across languages (needed for consistency metrics).
    `Sample.meta["label"]` is "harmful" or "benign" when the dataset knows it (over-refusal metrics).
    `Sample.category` is the coarse category (babelsafe.taxonomy); `meta["raw_category"]` the dataset's own.
    Other meta keys with a meaning downstream: "system" (a system message the runner sends before the
    prompt, e.g. CyberSecEval prompt injection), "judge_question" (a per-item yes/no question for a judge),
    "translations" ({code: text}, the item's human translations, on English samples of parallel sets).
    """

    name: str

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]: ...
