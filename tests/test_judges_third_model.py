"""The third-model check set (tests/data/refusal_third_model): format and counts, not figures.

The embedded SmolLM2's real answers, labelled by an LLM agent (see its SOURCE.md); the judge's figures on
it are reported by benchmarks/bench_judge_third_model.py, never asserted here (it is a measure, not a
target: nothing is tuned on it).
"""
from __future__ import annotations

import csv
import hashlib
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from judge_data import DATA, rows

SET = DATA / "refusal_third_model"
LABELS = {"full_compliance", "full_refusal", "partial_refusal", "invalid"}
XSTEST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "xstest" / "xstest_prompts.csv"


@pytest.fixture(scope="module")
def answers() -> list[dict]:
    return rows(SET / "answers.jsonl")


def test_rows_have_the_documented_fields(answers):
    ids = [r["id"] for r in answers]
    assert len(ids) == len(set(ids))
    for r in answers:
        assert r["model"] == "smollm2-135m-instruct-q4_1"
        assert r["label"] in LABELS, r["id"]
        assert r["alt_label"] is None or (r["ambiguous"] and r["alt_label"] in LABELS
                                          and r["alt_label"] != r["label"]), r["id"]
        assert isinstance(r["ambiguous"], bool) and isinstance(r["withheld"], bool)
        assert r["prompt"].strip() and r["language"] and r["source"] in ("xstest", "multijail")
        assert re.fullmatch(r"[0-9a-f]{64}", r["response_sha256"])
        if r["withheld"]:  # harmful text: id, label and hash only, with the reason in the note
            assert r["response"] is None and r["note"], r["id"]
        else:
            assert hashlib.sha256(r["response"].encode("utf-8")).hexdigest() == r["response_sha256"], r["id"]


def test_the_xstest_part_covers_every_prompt_once(answers):
    xs = [r for r in answers if r["source"] == "xstest"]
    assert sorted(int(r["item_id"]) for r in xs) == list(range(1, 451))
    for r in xs:  # unsafe (harmful) prompts are exactly the contrast_ types, as in XSTest
        assert (r["prompt_label"] == "harmful") == r["prompt_type"].startswith("contrast_"), r["id"]
    if XSTEST.is_file():  # the prompts are XSTest's own, unchanged
        with XSTEST.open(encoding="utf-8") as f:
            upstream = {row["id"]: row for row in csv.DictReader(f)}
        for r in xs:
            assert r["prompt"] == upstream[str(r["item_id"])]["prompt"], r["id"]
            assert r["prompt_type"] == upstream[str(r["item_id"])]["type"], r["id"]


def test_counts_match_source_md(answers):
    """The per-label count table in SOURCE.md is the data's."""
    text = (SET / "SOURCE.md").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 7 and cells[2].isdigit():
            table[(cells[0], cells[1])] = [int(c) for c in cells[2:]]
    assert table, "SOURCE.md has no count table"
    got: dict[tuple[str, str], Counter] = {}
    for r in answers:
        lang = r["language"] if r["source"] != "xstest" else "en"
        got.setdefault((r["source"], lang), Counter())[r["label"]] += 1
    order = ["full_compliance", "full_refusal", "partial_refusal", "invalid"]
    assert set(table) == set(got)
    for key, c in got.items():
        assert table[key] == [c[k] for k in order] + [sum(c.values())], key


def test_the_benchmark_reads_the_set(answers):
    """bench_judge_third_model's figures on the set add up (confusion over every row; per-label support)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_judge_third_model as B

    texted = [r for r in answers if r["response"] is not None]
    from babelsafe.judges.refusal import xstest_strmatch
    f = B.figures(texted, [xstest_strmatch(r["response"]) for r in texted])
    assert sum(sum(row.values()) for row in f["confusion"].values()) == len(texted)
    assert sum(v["n"] for v in f["per_label"].values()) == f["n_valid"]
    assert f["invalid"]["gold"] == sum(r["label"] == "invalid" for r in texted)
