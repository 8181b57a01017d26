"""Hugging Face datasets: `hf:ORG/NAME[:split]` through the `datasets` library (extra `hf`).

Options: split, subset (config name), columns (field -> column mapping, e.g. {prompt: goal}),
language (default language when there is no language column), revision, data_files, skip_bad_rows,
max_prompt_chars, name, taxonomy, cache_dir. `ORG/NAME` may also be a local directory written by `save_to_disk`, or a local
data folder/file that `datasets.load_dataset` understands; set HF_DATASETS_OFFLINE=1 to stay offline.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..types import Sample
from ._common import wanted_languages
from .files import MAX_PROMPT_CHARS, Builder, Raw, build_samples, check_columns, field_map

log = logging.getLogger(__name__)


# used only when the usual column is absent and the user gave no mapping
_FALLBACK_COLUMNS = {"prompt": "turns", "id": "question_id"}


def _default_taxonomy(repo: str) -> str:
    """Which raw-category table applies: SORRY-Bench's numeric ids depend on the version."""
    low = repo.lower()
    if "sorry-bench" in low:
        return "sorry-bench-202406" if "202406" in low else "sorry-bench"
    for known in ("multijail", "xsafety", "catqa", "longsafety"):
        if known in low:
            return known
    return "file"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'ORG/NAME:split' -> ('ORG/NAME', 'split'); 'ORG/NAME' -> ('ORG/NAME', None)."""
    spec = spec.strip()
    if not spec:
        raise UsageError("Empty Hugging Face dataset name: use hf:ORG/NAME[:split].")
    base, sep, split = spec.rpartition(":")
    if sep and base and "/" not in split and not Path(spec).exists():
        return base, split or None
    return spec, None


class HFDataset:
    """A Hugging Face dataset with a prompt column (hf:ORG/NAME[:split]); loaded through `datasets`."""

    name = "hf"
    languages: list[str] = []
    license = "(as the dataset card says)"
    source = "Hugging Face Hub or a local datasets folder: --dataset hf:ORG/NAME[:split]"

    def __init__(self, spec: str, split: str | None = None, subset: str | None = None,
                 columns: dict[str, str] | None = None, language: str | None = None,
                 revision: str | None = None, data_files: Any = None, skip_bad_rows: bool = False,
                 max_prompt_chars: int = MAX_PROMPT_CHARS, name: str | None = None,
                 taxonomy: str | None = None, cache_dir: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.repo, spec_split = parse_spec(spec)
        self.user_columns = dict(columns or {})
        self.taxonomy = taxonomy or _default_taxonomy(self.repo)
        self.split = split or spec_split
        self.subset, self.revision, self.data_files = subset, revision, data_files
        self.columns = field_map(columns)
        self.language = langs.normalize(language) if language else None
        self.skip_bad_rows, self.max_prompt_chars = skip_bad_rows, max_prompt_chars
        self.name = name or self.repo.rstrip("/").split("/")[-1]

    def _open(self) -> Any:
        try:
            import datasets as hfd
        except ImportError as e:
            raise UsageError("hf: datasets need the Hugging Face `datasets` package: "
                             "pip install 'babelsafe[hf]'.") from e
        label = f"hf:{self.repo}"
        local = Path(self.repo).expanduser()
        try:
            if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "state.json").exists()
                                   or (local / "dataset_dict.json").exists()):
                ds = hfd.load_from_disk(str(local))
            else:
                kwargs: dict[str, Any] = {}
                if self.revision:
                    kwargs["revision"] = self.revision
                if self.cache_dir:
                    kwargs["cache_dir"] = self.cache_dir
                if self.data_files is not None:
                    kwargs["data_files"] = self.data_files
                ds = hfd.load_dataset(self.repo, self.subset, split=self.split, **kwargs)
        except UsageError:
            raise
        except Exception as e:  # hub errors, gated sets, offline mode, bad configs, missing splits
            raise UsageError(f"Could not load {label}"
                             f"{f' (subset {self.subset})' if self.subset else ''}"
                             f"{f' split {self.split}' if self.split else ''}: {type(e).__name__}: {e}. "
                             f"Check the name, split and subset; gated sets need `huggingface-cli login`.") from e
        if isinstance(ds, hfd.DatasetDict):
            splits = list(ds)
            if self.split:
                if self.split not in ds:
                    raise UsageError(f"{label} has no split '{self.split}'; splits: {', '.join(splits)}.")
                ds = ds[self.split]
            elif len(splits) == 1:
                ds = ds[splits[0]]
            else:
                pick = next((s for s in ("test", "train") if s in ds), None)
                if pick is None:
                    raise UsageError(f"{label} has several splits ({', '.join(splits)}); choose one: "
                                     f"hf:{self.repo}:SPLIT.")
                log.info("%s: using split '%s' of %s", label, pick, ", ".join(splits))
                ds = ds[pick]
        return ds

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        wanted = wanted_languages(languages)
        ds = self._open()
        label = f"hf:{self.repo}" + (f":{self.split}" if self.split else "")
        names = list(ds.column_names)
        cols = dict(self.columns)
        for field, alt in _FALLBACK_COLUMNS.items():  # e.g. SORRY-Bench: prompt in `turns`
            if field not in self.user_columns and cols[field] not in names and alt in names:
                cols[field] = alt
        check_columns(label, names, cols)
        raws = (Raw(f"row {i}", rec) for i, rec in enumerate(ds, 1))
        builder = Builder(label, self.name, cols, self.language, self.max_prompt_chars, self.taxonomy)
        samples = build_samples(label, raws, builder, self.skip_bad_rows)
        return iter(samples) if wanted is None else (s for s in samples if s.language in wanted)
