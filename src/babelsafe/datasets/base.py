"""The Dataset protocol: a named, documented source of Samples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Protocol, runtime_checkable

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

    Optional `scoring` (a Scoring): how the dataset's paper scores answers; runs whose judges score it
    by another criterion say so (summary.json `scoring`, the CLI, report.html).
    """

    name: str

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]: ...


@dataclass(frozen=True)
class Scoring:
    """How a benchmark's paper scores answers, so that a run can say when it scores them differently.

    criterion: what the paper's judge decides ("harm": is the answer harmful; "refusal": did the model
    refuse / fulfil; "injection": did the prompt injection succeed). rubric: the `llm` rubric that
    reproduces the paper's judge here (None when there is none). usage: the --judge to type."""

    criterion: Literal["harm", "refusal", "injection"]
    paper: str
    usage: str
    rubric: str | None = None
