"""Shared helpers for the shipped datasets: data-file access and language filtering."""
from __future__ import annotations

import gzip
import io
import json
from functools import lru_cache
from importlib import resources
import logging
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, TextIO, TypeVar

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


_Item = TypeVar("_Item")


def read_user_text(path: Path, kind: str) -> list[str]:
    """The lines of a user's UTF-8 file (a BOM is fine); a UsageError naming the file otherwise."""
    from ..errors import UsageError

    if not path.is_file():
        raise UsageError(f"{kind}: no such file {path}.")
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}). Re-save it as UTF-8.") from e


def read_jsonl_items(lines: Iterable[str], where: str, parse_row: Callable[[Any, str], _Item],
                     skip_bad_rows: bool = False) -> list[_Item]:
    """Items from JSONL lines, `parse_row(obj, "FILE:LINE")` making each one (it has `id` and `language`;
    a missing id becomes the line number). Bad JSON, a bad row or a repeated (id, language) is a
    UsageError naming file:line, or, with skip_bad_rows, a warning and the row is skipped."""
    from ..errors import UsageError

    items: list[_Item] = []
    seen: set[tuple[str, str]] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{where}:{n}: not valid JSON ({e.msg}).") from e
            item = parse_row(row, f"{where}:{n}")
            item.id = item.id or str(n)  # type: ignore[attr-defined]
            key = (item.id, item.language)  # type: ignore[attr-defined]
            if key in seen:
                raise UsageError(f"{where}:{n}: duplicate id {key[0]!r} in '{key[1]}'.")
            seen.add(key)
            items.append(item)
        except UsageError as e:
            if not skip_bad_rows:
                raise UsageError(f"{e} (use --skip-bad-rows to skip malformed rows)") from e
            logging.getLogger(__name__).warning("skipped: %s", e)
    return items


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
