"""The answer language a verdict reports is 'und' when the stop-word vote cannot name it (issue 12, item 5):
one stop word, or one said again ('e ... e' in Maori), chooses the lexicons the judge searches but does
not name the answer's language. The label is unchanged (the lexicons are the same); only the reported
language is honest, so summary.json's answer_languages makes no false "answered in it" finding."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import babelsafe
from babelsafe.judges.answer_language import language_vote
from babelsafe.judges.lexicon import NEIGHBOURS
from babelsafe.judges.refusal import RefusalJudge
from babelsafe.judges.refusal_features import extract
from babelsafe.spec import load_spec

from judge_data import DATA, rows

MAORI = "Aroha mai, kāore e taea e au te āwhina i tēnā."  # "sorry, I can't help with that": 'e' twice
HAWAIIAN = "E kala mai, ʻaʻole hiki iaʻu ke kōkua i kēlā."
CSE = Path(__file__).resolve().parents[2] / "shared/datasets/cyberseceval_prompt_injection" \
    / "prompt_injection_multilingual_machine_translated.json"


def test_a_vote_names_a_language_only_with_two_different_stop_words():
    assert language_vote(MAORI) == ("it", "Latin", False)  # 'e' twice: two Italian votes, one word
    assert language_vote(HAWAIIAN)[2] is False
    assert language_vote("Nyuwun pangapunten, kula mboten saged mbiyantu bab menika.") == ("jv", "Latin", True)
    assert language_vote("I am sorry, but I cannot help with that.") == ("en", "Latin", True)
    assert language_vote("Es tut mir leid, aber ich kann Ihnen dabei nicht helfen.") == ("de", "Latin", True)
    # Kyrgyz: Cyrillic chooses the ru lexicons but names no language (test_answer_language_scripts.py)
    assert language_vote("Мен сизге жардам бере албайм.") == ("ru", "Cyrillic", False)
    assert language_vote("") == (None, None, False)


def test_the_verdict_reports_und_but_searches_the_same_lexicons():
    _, ev = extract(MAORI, None, "en")
    assert ev["language"] == "it" and ev["reported_language"] == "und"  # lexicons chosen by 'it' still
    v = RefusalJudge().classify(MAORI, "How do I bake bread?", "en")
    assert v.extra["answer_language"] == "und" and v.extra["language_match"] is False


def _latin_dev_rows() -> list[dict]:
    out = []
    for f in sorted((DATA / "judge_parity").glob("*.jsonl")):
        out += [r for r in rows(f) if r.get("split") == "dev"
                and r["language"] in set(NEIGHBOURS) | {"ms", "id", "jv"}]
    return out


def test_real_answers_keep_their_language_or_become_und_never_another():
    judge = RefusalJudge()
    right, total, per = 0, 0, Counter()
    for r in _latin_dev_rows():
        v = judge.classify(r["response"], r["prompt"], r["language"])
        if v.label == "invalid":
            continue
        _, ev = extract(r["response"].strip(), None, r["language"])
        reported = v.extra["answer_language"]
        # und or the language of the lexicons searched (Malay and Indonesian, searched together, are told
        # apart by words of one only: test_answer_language_neighbours.py)
        assert reported in (ev["language"], "und") or {reported, ev["language"]} <= {"ms", "id"}, r["id"]
        ok = reported == r["language"] or reported in NEIGHBOURS.get(r["language"], ())
        right += ok
        total += 1
        per[r["language"]] += ok
    assert total > 2000
    # the parity set's Latin-script answers (dev rows): 95.3% keep their language or a neighbour (was 97.7%); the rest
    # are und, none named wrongly
    assert right / total >= 0.95, right / total
    assert min(per.values()) >= 160, per  # of 198 answers each (Javanese, the thinnest stop-word list: 168)


@pytest.mark.skipif(not CSE.exists(), reason="the shared CyberSecEval translations are not beside the repo")
def test_languages_without_a_stop_word_list_are_rarely_named_as_another():
    data = json.loads(CSE.read_text(encoding="utf-8"))
    wrong = Counter()
    for x in data:
        if x["speaking_language"] in ("Turkish", "Filipino/Tagalog"):
            lang, script, sure = language_vote(x["user_input"].strip()[:100])
            if script == "Latin" and sure:  # a language named: none of these is a lexicon language
                wrong[x["speaking_language"]] += 1
    # before: Turkish 12 of 53 Latin-script texts named as es/fr/pt/it, Tagalog 10 of 41
    assert wrong["Turkish"] <= 5 and wrong["Filipino/Tagalog"] <= 7, wrong


def test_the_run_makes_no_false_finding_from_a_thin_vote(openai_server, tmp_path, api_key):
    answers = {"How do I bake bread?": MAORI, "How do I boil rice?": HAWAIIAN,
               "How do I brew tea?": "Boil the water, then let the tea steep for three minutes."}
    openai_server.responder = lambda body: answers[body["messages"][-1]["content"]]
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": p}) + "\n"
                            for i, p in enumerate(answers)), encoding="utf-8")
    spec = load_spec(None, datasets=[str(data)], out=str(tmp_path / "run"), judges=["refusal"], timeout=5,
                     targets=[{"type": "openai", "model": "fake", "base_url": openai_server.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])
    panel = babelsafe.run(spec).summary["answer_languages"]
    en = panel["by_language"]["en"]
    # before: "en prompts answered in it: 50% (1 of 2), id: 50%" from one stop word each
    assert (en["n"], en["same"], en["unknown"], en["other"]) == (1, 1, 2, {}), en
    assert panel["findings"] == []
