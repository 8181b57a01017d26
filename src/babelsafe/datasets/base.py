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
    """

    name: str

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]: ...
