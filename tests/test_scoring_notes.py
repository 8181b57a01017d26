"""Benchmarks scored as their papers score them (issue 12): a run says when its judge is a proxy for a
dataset's own scoring (summary.json `scoring`, the CLI, report.html), and CyberSecEval prompt injection
with an llm judge is scored by each test's own judge question."""
from __future__ import annotations

import html as htmllib
import json

import pytest
from typer.testing import CliRunner

import babelsafe
from babelsafe import api
from babelsafe.cli.app import app
from babelsafe.metrics.scoring import assess, declared_scoring
from babelsafe.registry import registry
from babelsafe.results.readers import RunReader
from babelsafe.spec import load_spec


def _fits(datasets, judges):
    return {e["dataset"]: (e["fit"], e["note"]) for e in assess(datasets, judges)}


def test_declared_scoring_covers_the_papers_with_a_judge_of_their_own():
    for name in ("multijail", "xsafety", "xstest", "sorry-bench", "harmfulqa", "dangerousqa", "adversarialqa",
                 "catqa", "cyberseceval-frr", "cyberseceval-prompt-injection"):
        sc = declared_scoring(name)
        assert sc is not None and sc.criterion in ("harm", "refusal", "injection"), name
        assert sc.paper and "--judge" in sc.usage, name
    assert declared_scoring("some/file.csv") is None


def test_every_declared_rubric_exists():
    from babelsafe.judges.llm import rubric_names

    for name in registry("dataset").names():
        sc = declared_scoring(name)
        if sc is not None and sc.rubric is not None:
            assert sc.rubric in rubric_names(), (name, sc.rubric)


def test_refusal_judge_is_a_proxy_for_harm_and_injection_benchmarks():
    fits = _fits(["multijail", "cyberseceval-prompt-injection", "xstest", "cyberseceval-frr", "my.csv"],
                 [{"name": "refusal", "options": {}}])
    assert fits["multijail"][0] == "proxy" and "--judge 'llm:rubric=multijail" in fits["multijail"][1]
    assert fits["cyberseceval-prompt-injection"][0] == "proxy"
    assert "judge_question" in fits["cyberseceval-prompt-injection"][1]
    assert fits["xstest"] == ("criterion", None) and fits["cyberseceval-frr"] == ("criterion", None)
    assert "my.csv" not in fits


@pytest.mark.parametrize("judge, multijail, injection", [
    ({"name": "llm", "options": {"target": "x"}}, "paper", "paper"),  # default rubric multijail; PI asks its question
    ({"name": "llm", "options": {"target": "x", "rubric": "xsafety"}}, "criterion", "proxy"),
    ({"name": "llm", "options": {"target": "x", "rubric": "xstest"}}, "proxy", "proxy"),
    ({"name": "guard", "options": {}}, "criterion", "proxy"),
    ({"name": "cascade", "options": {"first": "refusal", "then": "llm:rubric=multijail", "target": "x"}},
     "paper", "proxy"),
    ({"name": "cascade", "options": {"first": "refusal", "then": "llm:rubric=xstest", "target": "x"}},
     "proxy", "proxy"),
    ({"name": "cascade", "options": {"then": "llm", "target": "x"}}, "paper", "paper"),
])
def test_how_each_judge_relates_to_the_papers(judge, multijail, injection):
    fits = _fits(["multijail", "cyberseceval-prompt-injection"], [judge])
    assert fits["multijail"][0] == multijail
    assert fits["cyberseceval-prompt-injection"][0] == injection


def test_the_best_judge_of_the_run_decides_and_no_note_when_one_fits():
    fits = _fits(["multijail"], [{"name": "refusal", "options": {}}, {"name": "guard", "options": {}}])
    assert fits["multijail"] == ("criterion", None)


def _pi_spec(srv, tmp_path, judges, name):
    return load_spec(None, datasets=["cyberseceval-prompt-injection"], languages=["en"], limit=3,
                     out=str(tmp_path / name), judges=judges, timeout=5,
                     targets=[{"type": "openai", "model": "fake", "base_url": srv.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])


def test_run_with_refusal_judge_notes_the_proxy_everywhere(openai_server, tmp_path, api_key):
    res = babelsafe.run(_pi_spec(openai_server, tmp_path, ["refusal"], "r"))
    [entry] = res.summary["scoring"]
    # the fake server echoes the prompt (invalid): the refusal judge's headline stays honest all the same
    assert res.summary["headline"]["name"] == "answered, not refused"
    assert entry["dataset"] == "cyberseceval-prompt-injection" and entry["fit"] == "proxy"
    assert entry["judges"] == {"refusal": "proxy"}
    on_disk = json.loads((res.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["scoring"][0]["note"] == entry["note"]
    page = api.report(res.run_dir).path.read_text(encoding="utf-8")
    assert "Scored as in each benchmark" in page and htmllib.escape(entry["note"]).replace("&#x27;", "&#39;") in page


def test_cli_prints_the_note(openai_server, tmp_path, api_key):
    r = CliRunner().invoke(app, ["run", "-d", "cyberseceval-prompt-injection", "-l", "en", "-n", "2",
                                 "--target", "openai", "--model", "fake", "--base-url", openai_server.base_url,
                                 "--api-key-env", "BABELSAFE_TEST_KEY", "--no-report",
                                 "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "note: cyberseceval-prompt-injection: its paper scores whether the prompt injection succeeded" in flat


def test_llm_judge_asks_each_tests_judge_question_and_no_note(openai_server, tmp_path, api_key):
    questions = []

    def responder(body):
        text = body["messages"][-1]["content"]
        if isinstance(text, str) and "Question:" in text:  # the judge: the rubric carries the test's question
            questions.append(text)
            return "No"
        return "I will keep to my instructions."

    openai_server.responder = responder
    judge = {"name": "llm", "options": {"target": {"type": "openai", "model": "judge",
                                                   "base_url": openai_server.base_url}}}
    res = babelsafe.run(_pi_spec(openai_server, tmp_path, [judge], "l"))
    [entry] = res.summary["scoring"]
    assert entry["fit"] == "paper" and entry["note"] is None
    assert len(questions) == 3  # one judge call per answer, each with its own test's question
    with RunReader(res.run_dir) as reader:
        rubrics = {json.loads(x)["rubric"] for (x,) in reader.con.execute("SELECT extra FROM verdicts")}
    assert rubrics == {"cyberseceval_pi"}
