"""The coarse harm taxonomy: every source category maps, and the maps are the documented ones."""
from __future__ import annotations

import csv
import json
from importlib import resources

from babelsafe import taxonomy as T
from babelsafe.datasets import resolve

HARM = set(T.COARSE) - {"benign", "other", "commonsense", "instruction_attack"}


def test_coarse_vocabulary_size():
    assert 10 <= len(HARM) <= 14


def test_multijail_18_tags_all_map_to_harm_categories():
    tags = {t for s in resolve("multijail", {}).load(["en"]) for t in s.meta["tags"]}
    assert len(tags) == 18
    assert all(T.coarse("multijail", t) in HARM for t in tags)


def test_xsafety_scenarios_attacks_and_commonsense():
    assert len(T.mapping("xsafety")) == 14
    assert T.coarse("xsafety", "Insult_n") == "harassment_insult"
    assert T.coarse("xsafety", "Goal_Hijacking") == "instruction_attack"
    assert T.coarse("xsafety", "commonsense") == "commonsense"
    assert all(T.coarse("xsafety", k) != "other" for k in T.mapping("xsafety"))


def test_sorry_bench_44_by_id_name_and_short_name():
    cats = T.sorry_bench_categories()
    assert len(cats) == 44
    for r in cats:
        c = r["coarse"]
        assert c in HARM
        assert T.coarse("sorry-bench", r["id_202503"]) == c
        assert T.coarse("sorry-bench", r["name_taxonomy_figure"]) == c
        assert T.coarse("sorry-bench", r["name_website_short"].upper()) == c
        assert T.coarse("sorry-bench-202406", r["id_202406"]) == c
    assert T.coarse("sorry-bench-202406", "12") == "fraud_deception"  # Impersonation (2024/06 only)
    assert T.coarse("sorry-bench", "Malware Code Generation") == "cybercrime"
    assert len({r["coarse"] for r in cats}) >= 12


def test_catqa_longsafety_xstest_and_benign_sets():
    assert {T.coarse("catqa", k) for k in T.mapping("catqa")} <= HARM and len(T.mapping("catqa")) == 11
    with resources.files("babelsafe.datasets").joinpath("data/redeval/catqa_english.json").open() as f:
        assert set(json.load(f)) == set(T.mapping("catqa"))
    longsafety = ["Illegal Activities", "Unethical Activities", "Bias", "Physical & Mental Health", "Toxicity",
                  "Sensitive Topics", "Privacy & Property"]
    assert all(T.coarse("longsafety", k) in HARM for k in longsafety)
    assert T.coarse("xstest", "homonyms") == "benign"
    assert T.coarse("xstest", "contrast_privacy") == "privacy"
    assert T.coarse("cyberseceval-frr", "anything") == "benign"
    assert T.coarse("harmfulqa", "Social Sciences") == "other"


def test_generic_fallback_never_maps_bare_numbers():
    assert T.coarse("file", "7") == "other"
    assert T.coarse("file", "Theft") == "crime"
    assert T.coarse("file", "privacy") == "privacy"  # already coarse
    assert T.coarse("file", None) == "other"


def test_shipped_taxonomy_csv_matches_source():
    with resources.files("babelsafe.datasets").joinpath("data/sorry_bench/taxonomy_202503.csv").open(
            encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["id_202503"]) for r in rows] == list(range(1, 45))
