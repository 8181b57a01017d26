"""The defense module's data (refusals, prompts, rules). Language detection is babelsafe.text's
(`detect_language` / `quick_language` are re-exported here for the defense modules)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .. import languages as _languages
from ..text import detect_language, quick_language  # noqa: F401 (re-exported)


def data_text(name: str) -> str:
    return resources.files(__package__).joinpath("data", name).read_text("utf-8")


@lru_cache(maxsize=None)
def load_data(name: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data_text(name), Loader=loader)


def refusals() -> dict[str, dict[str, str]]:
    """{language: {"refusal": ..., "notice": ...}} from data/refusals.yaml."""
    return load_data("refusals.yaml")


def refusal_text(language: str | None) -> str:
    """The guard's refusal in `language` (English when there is none for it)."""
    table = refusals()
    return (table.get(language or "en") or table["en"])["refusal"]


def notice_text(language: str | None) -> str:
    table = refusals()
    return (table.get(language or "en") or table["en"])["notice"]


def prompt(name: str, **fmt: str) -> str:
    """A model prompt from data/prompts.yaml with {placeholders} filled."""
    return str(load_data("prompts.yaml")[name]).format(**fmt)


def language_name(code: str) -> str:
    return _languages.name(code)
