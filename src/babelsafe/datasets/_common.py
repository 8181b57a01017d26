"""Shared helpers for the shipped datasets: data-file access and language filtering."""
from __future__ import annotations

import gzip
import io
import json
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Iterable, Iterator, TextIO

from .. import languages as langs
from ..types import Sample


def data_path(relpath: str):
    """A Traversable for a file under babelsafe/datasets/data/ (never reads ../shared)."""
    return resources.files("babelsafe.datasets").joinpath("data").joinpath(relpath)


def open_text(relpath: str) -> TextIO:
    """Open a shipped data file as UTF-8 text (transparently gunzipping `.gz`)."""
    p = data_path(relpath)
    if relpath.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(fileobj=p.open("rb")), encoding="utf-8", newline="")
    return p.open("r", encoding="utf-8-sig", newline="")


def read_json(relpath: str) -> Any:
    with open_text(relpath) as f:
        return json.load(f)


def wanted_languages(languages: Iterable[str] | None) -> set[str] | None:
    """Normalised set of requested language codes; None = all. Unknown codes raise UsageError."""
    if languages is None:
        return None
    out = {langs.normalize(c) for c in languages if c and str(c).strip()}
    return out or None


class ShippedDataset:
    """Base for datasets whose data ships inside babelsafe. Subclasses set the class attributes and
    implement `_iter(wanted)`; `load(languages)` filters by language."""

    name: ClassVar[str] = ""
    languages: ClassVar[list[str]] = []
    size: ClassVar[int] = 0  # number of samples over all languages
    categories: ClassVar[list[str]] = []  # coarse categories present
    labels: ClassVar[list[str]] = []  # values of meta["label"]
    license: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    source: ClassVar[str] = ""
    parallel: ClassVar[bool] = False  # same Sample.id across languages = translations of one item

    def __init__(self, **options: Any) -> None:
        # shipped datasets take no required options; unknown ones are ignored only if harmless
        self.options = dict(options)
        self.options.pop("skip_bad_rows", None)
        if self.options:
            from ..errors import UsageError
            raise UsageError(f"Dataset '{self.name}' takes no options; got: {', '.join(sorted(self.options))}.")

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        wanted = wanted_languages(languages)
        if wanted is not None and not (wanted & set(self.languages)):
            return iter(())
        if self.parallel and (wanted is None or "en" in wanted):
            return self._with_translations(self._iter(wanted))
        return self._iter(wanted)

    def _with_translations(self, samples: Iterator[Sample]) -> Iterator[Sample]:
        """English (source) samples carry the item's human translations in meta["translations"]
        ({code: text}) for the `translate` transform; other languages use `translations(id)`."""
        index = parallel_index(type(self))
        for s in samples:
            if s.language == "en":
                s.meta["translations"] = dict(index.get(s.id, {}))
            yield s

    @classmethod
    def translations(cls, item_id: str) -> dict[str, str]:
        """All human translations of one item, {language: text} ({} for non-parallel datasets)."""
        return dict(parallel_index(cls).get(str(item_id), {})) if cls.parallel else {}

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:  # pragma: no cover - abstract
        raise NotImplementedError


@lru_cache(maxsize=16)
def parallel_index(cls: type[ShippedDataset]) -> dict[str, dict[str, str]]:
    """item id -> {language: prompt} for a parallel dataset (built once per process)."""
    out: dict[str, dict[str, str]] = {}
    for s in cls._iter(cls.__new__(cls), None):
        out.setdefault(s.id, {})[s.language] = s.prompt
    return out
