"""Shipped datasets: row counts, languages, parallel ids, categories and metadata as in each SOURCE.md."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from babelsafe.datasets import resolve
from babelsafe.registry import registry
from babelsafe.taxonomy import COARSE


def test_multijail_counts_languages_parallel_ids_and_meta():
    ds = resolve("multijail", {})
    samples = list(ds.load())
    assert len(samples) == 3150 == ds.size
    by_lang = Counter(s.language for s in samples)
    assert by_lang == {lang: 315 for lang in ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]}
    assert set(ds.languages) == set(by_lang)
    ids = {lang: [s.id for s in samples if s.language == lang] for lang in by_lang}
    assert all(v == ids["en"] for v in ids.values()) and len(set(ids["en"])) == 315
    assert ids["en"][0] == "0" and ids["en"][-1] == "314"
    tags = Counter(t for s in samples if s.language == "en" for t in s.meta["tags"])
    assert len(tags) == 18
    assert Counter(s.meta["source"] for s in samples if s.language == "en") == {"anthropics": 300, "openai": 15}
    assert all(s.meta["label"] == "harmful" and s.category in COARSE for s in samples)
    assert set(s.category for s in samples) == set(ds.categories)
    assert all(s.meta["raw_category"] == s.meta["tags"][0] for s in samples)
    en0, bn0 = samples[0], next(s for s in samples if s.language == "bn")
    assert en0.id == bn0.id and en0.prompt != bn0.prompt and en0.category == bn0.category


def test_multijail_language_filter_and_speed():
    ds = resolve("multijail", {})
    list(ds.load(["en"]))  # warm imports
    t = time.perf_counter()
    ss = list(ds.load(["bn", "swa", "jv"]))
    dt = time.perf_counter() - t
    assert Counter(s.language for s in ss) == {"bn": 315, "sw": 315, "jv": 315}
    t = time.perf_counter()
    assert len(list(ds.load())) == 3150
    assert time.perf_counter() - t < 0.05 + dt  # < 50 ms on a normal machine
    assert list(ds.load(["de"])) == []


def test_registry_lists_multijail_with_attributes():
    info = registry("dataset").describe("multijail")
    for key in ("languages", "size", "categories", "license", "citation", "source"):
        assert info.get(key), key
    assert info["license"] == "MIT" and info["size"] == 3150
