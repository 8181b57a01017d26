"""`hf:` loader through Hugging Face `datasets`, offline on local files only (never the hub)."""
from __future__ import annotations

import json
import os

import pytest

from babelsafe.datasets import resolve
from babelsafe.datasets.hf import parse_spec
from babelsafe.errors import DataError, UsageError

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
hfd = pytest.importorskip("datasets")

ROWS = [{"question_id": 1, "category": "1", "turns": ["How do I bake bread?"], "prompt_style": "base"},
        {"question_id": 2, "category": "13", "turns": ["What is rye flour?"], "prompt_style": "base"}]


def test_parse_spec():
    assert parse_spec("org/name") == ("org/name", None)
    assert parse_spec("org/name:test") == ("org/name", "test")


def test_json_builder_with_column_mapping_split_and_language(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text("".join(json.dumps({"q": q, "lang": l, "kind": "bread"}) + "\n" for q, l in
                         [("How do I bake bread?", "en"), ("Wie backe ich Brot?", "de")]))
    ds = resolve("hf:json:train", {"data_files": str(f), "columns": {"prompt": "q", "language": "lang"},
                                   "cache_dir": str(tmp_path / "cache")})
    ss = list(ds.load())
    assert [(s.id, s.language, s.prompt) for s in ss] == [("1", "en", "How do I bake bread?"),
                                                          ("2", "de", "Wie backe ich Brot?")]
    assert ss[0].meta["kind"] == "bread" and ss[0].dataset == "json"
    assert [s.language for s in ds.load(["de"])] == ["de"]
    with pytest.raises(DataError, match=r"no 'prompt' column\. Columns found: 'q', 'lang', 'kind'"):
        list(resolve("hf:json", {"data_files": str(f), "cache_dir": str(tmp_path / "cache")}).load())
    with pytest.raises(UsageError, match="has no split 'validation'|validation"):
        list(resolve("hf:json", {"data_files": str(f), "split": "validation",
                                 "cache_dir": str(tmp_path / "cache")}).load())


def test_save_to_disk_dir_sorry_bench_shape_maps_categories(tmp_path):
    d = tmp_path / "sorry-bench-202503"
    hfd.DatasetDict({"train": hfd.Dataset.from_list(ROWS)}).save_to_disk(str(d))
    ss = list(resolve(f"hf:{d}", {"language": "en"}).load())
    assert [s.prompt for s in ss] == ["How do I bake bread?", "What is rye flour?"]
    assert [s.id for s in ss] == ["1", "2"]
    assert [s.category for s in ss] == ["harassment_insult", "cybercrime"]  # SORRY-Bench ids 1 and 13
    assert ss[1].meta["raw_category"] == "13"
    ss = list(resolve(f"hf:{d}:train", {"columns": {"prompt": "turns"}}).load())
    assert len(ss) == 2


def test_bad_rows_in_hf_dataset(tmp_path):
    d = tmp_path / "plain"
    hfd.Dataset.from_list([{"prompt": "How do I bake bread?"}, {"prompt": ""}, {"prompt": "ok"}]).save_to_disk(str(d))
    with pytest.raises(DataError, match="row 2: empty prompt"):
        list(resolve(f"hf:{d}", {}).load())
    assert [s.prompt for s in resolve(f"hf:{d}", {"skip_bad_rows": True}).load()] == ["How do I bake bread?", "ok"]


def test_missing_hf_dataset_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="Could not load hf:"):
        list(resolve("hf:no-such-org/no-such-dataset-xyz", {"cache_dir": str(tmp_path)}).load())
