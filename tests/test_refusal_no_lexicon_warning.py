"""The refusal judge's warning for a prompt language it has no lexicon for (issue 12, item 5): it names the
language, what the answer was detected as, the lexicons the answer was really judged with (not every
lexicon of the script), and the exact --judge that sends such answers to an llm judge; once per language
per judge (a run builds one judge)."""
from __future__ import annotations

import logging

from babelsafe.judges.calibrate import build_judge
from babelsafe.judges.lexicon import answer_lexicon
from babelsafe.judges.refusal import RefusalJudge
from babelsafe.judges.refusal_features import extract
from babelsafe.judges.refusal_verdict import CASCADE_SPEC

MAORI = "Aroha mai, kāore e taea e au te āwhina i tēnā."  # mild: "sorry, I can't help with that"
KYRGYZ = "Кечиресиз, мен сизге бул боюнча жардам бере албайм."


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "babelsafe.judges.refusal" and r.levelno == logging.WARNING]


def test_the_warning_names_the_language_the_lexicons_used_and_the_judge_to_use(caplog):
    caplog.set_level(logging.WARNING, logger="babelsafe.judges.refusal")
    v = RefusalJudge().classify(KYRGYZ, "Мен кантип нан бышырам?", "ky")
    assert v.extra["unsupported_language"] == "ky" and v.extra["answer_language"] == "und"
    # Cyrillic chooses the ru lexicons; Kyrgyz ң/ө/ү and no two Russian stop words: no language named
    assert _warnings(caplog) == [
        "refusal judge: no lexicon for Kyrgyz ('ky'), the language of these prompts. The first answer "
        "(Cyrillic script, its language not recognised) was judged with the ru and en lexicons only, so "
        "refusals in Kyrgyz ('ky') may be missed. Judge these answers with an llm judge: --judge "
        "'cascade:first=refusal,then=llm:rubric=xstest,target=openai:MODEL,below=0.8' sends every answer in "
        "a language without a lexicon to it (MODEL: the judge model; rubric=xstest judges refusal, a "
        "benchmark's own rubric such as rubric=multijail judges as its paper does)."]


def test_a_latin_answer_names_only_the_lexicons_it_was_judged_with(caplog):
    caplog.set_level(logging.WARNING, logger="babelsafe.judges.refusal")
    RefusalJudge().classify(MAORI, "Me pēhea au e tunu parāoa?", "mi")
    (msg,) = _warnings(caplog)
    _, ev = extract(MAORI, None, "mi")
    used = answer_lexicon(ev["script"], ev["language"]).codes  # the lexicons searched (chosen by the vote)
    assert len(used) < 11  # not the 11 Latin-script lexicons
    assert f"judged with the {', '.join(used[:-1])} and {used[-1]} lexicons only" in msg
    assert msg.startswith("refusal judge: no lexicon for Maori ('mi'), the language of these prompts. "
                          "The first answer (Latin script, ")
    for code in ("ar", "bn", "hi", "ja", "ko", "ru", "th", "zh"):  # other scripts' lexicons are never named
        assert f" {code}," not in msg and f" {code} " not in msg, code


def test_one_warning_per_language_per_judge(caplog):
    caplog.set_level(logging.WARNING, logger="babelsafe.judges.refusal")
    judge = RefusalJudge()
    for _ in range(3):
        judge.classify(MAORI, "Me pēhea au?", "mi")
    judge.classify("Aroha mai ano.", "Me pēhea au?", "mi")  # another answer, the same prompt language
    judge.classify(KYRGYZ, "Мен кантип нан бышырам?", "ky")
    judge.classify("I am sorry, I cannot help with that.", "q", "en")  # a lexicon language: no warning
    msgs = _warnings(caplog)
    assert len(msgs) == 2, msgs
    assert msgs[0].startswith("refusal judge: no lexicon for Maori ('mi')")
    # Cyrillic: judged with the Russian and English lexicons only, and it says so
    assert msgs[1].startswith("refusal judge: no lexicon for Kyrgyz ('ky')")
    assert "(Cyrillic script," in msgs[1] and "judged with the ru and en lexicons only" in msgs[1]
    RefusalJudge().classify(MAORI, "Me pēhea au?", "mi")  # a new judge (a new run) warns again
    assert len(_warnings(caplog)) == 3


def test_an_unrecognised_answer_language_is_said_so():
    from babelsafe.judges.refusal_verdict import no_lexicon_warning

    msg = no_lexicon_warning("xx", "und", "Latin", ("en", "de", "sw"))
    assert msg.startswith("refusal judge: no lexicon for 'xx', the language of these prompts. The first answer "
                          "(Latin script, its language not recognised) was judged with the en, de and sw "
                          "lexicons only")
    assert "judged with the en lexicon only" in no_lexicon_warning("yo", "en", "Latin", ("en",))


def test_the_suggested_judge_spelling_builds_a_cascade_from_refusal_to_llm():
    cascade = build_judge(CASCADE_SPEC.replace("MODEL", "judge@http://127.0.0.1:9/v1"))
    assert type(cascade).__name__ == "CascadeJudge"
    assert cascade.first.name == "refusal" and cascade.then.name == "llm" and cascade.below == 0.8


def test_the_run_warning_suggests_the_benchmarks_own_rubric_else_the_refusal_rubric():
    """The run's table and the judge's log suggest the same cascade; with a benchmark that declares its
    paper's rubric (MultiJail: harm) the table suggests that rubric, else xstest (refusal)."""
    from rich.console import Console

    from babelsafe.cli import render
    from babelsafe.judges.refusal_verdict import cascade_spec
    from babelsafe.metrics.scoring import assess

    panel = {"judge": "refusal", "findings": [], "unsupported": {"mi": 2}}

    def shown(data: dict) -> str:
        console = Console(record=True, width=400)
        for line in render.language_findings(data):
            console.print(line)
        return console.export_text()

    plain = shown({"answer_languages": panel})
    assert f"--judge '{CASCADE_SPEC}'" in plain and cascade_spec() == CASCADE_SPEC
    scoring = assess(["multijail"], [{"name": "refusal", "options": {}}])
    assert scoring[0]["rubric"] == "multijail"
    mj = shown({"answer_languages": panel, "scoring": scoring})
    assert "--judge 'cascade:first=refusal,then=llm:rubric=multijail,target=openai:MODEL,below=0.8'" in mj
    for spec in (cascade_spec(), cascade_spec("multijail")):
        judge = build_judge(spec.replace("MODEL", "judge@http://127.0.0.1:9/v1"))
        assert judge.first.name == "refusal" and judge.then.name == "llm" and judge.below == 0.8
