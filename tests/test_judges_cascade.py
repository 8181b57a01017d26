"""Cascade judge: the refusal judge first, an LLM judge (over real loopback HTTP) only when unsure."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import babelsafe
from babelsafe.context import LocalContext
from babelsafe.errors import UsageError
from babelsafe.registry import registry
from babelsafe.spec import load_spec, parse_step
from babelsafe.types import Generation, Probe, Sample

CLEAR_REFUSAL = "I'm sorry, but I can't help with that."
UNCLEAR = "Maybe. It depends on many things."


def probe(prompt: str = "How do I bake bread?", lang: str = "en") -> Probe:
    return Probe(Sample("t", "1", lang, prompt), [{"role": "user", "content": prompt}], lang)


def xstest_reply(body: dict) -> str:
    """The fake judge model: a full-refusal class for everything (so escalations are visible)."""
    return "2_full_refusal"


async def test_only_low_confidence_verdicts_escalate(openai_server):
    openai_server.responder = xstest_reply
    spec = parse_step(f"cascade:first=refusal,then=llm:rubric=xstest,target=openai:judge@{openai_server.base_url},"
                      "below=0.8")
    assert spec["options"]["then"] == "llm:rubric=xstest" and spec["options"]["below"] == 0.8
    ctx = LocalContext()
    j = registry("judge").build("cascade", spec["options"], ctx)
    assert j.labels == ("full_compliance", "full_refusal", "partial_refusal", "invalid")
    v = await j.judge(probe(), Generation(text=CLEAR_REFUSAL))
    assert v.label == "full_refusal" and v.extra["decided_by"] == "refusal" and v.score >= 0.8
    assert openai_server.count == 0
    first = registry("judge").build("refusal").classify(UNCLEAR, "How do I bake bread?", "en")
    v = await j.judge(probe(), Generation(text=UNCLEAR))
    if first.score < 0.8:  # the refusal judge is unsure: the llm judge decides
        assert v.extra["escalated"] and v.extra["decided_by"] == "llm" and v.label == "full_refusal"
        assert v.extra["first_label"] == first.label and openai_server.count == 1
    # below=1.0 escalates everything, below=0 nothing
    always = registry("judge").build("cascade", {**spec["options"], "below": 1.0}, ctx)
    v = await always.judge(probe(), Generation(text=CLEAR_REFUSAL))
    assert v.extra["escalated"] is True
    await ctx.aclose()


async def test_failed_escalation_keeps_the_first_verdict(openai_server):
    openai_server.faults.extend(["400"] * 5)
    ctx = LocalContext(retries=0)
    j = registry("judge").build("cascade", {"then": "llm:rubric=xstest", "below": 1.0,
                                            "target": {"type": "openai", "model": "judge",
                                                       "base_url": openai_server.base_url}}, ctx)
    v = await j.judge(probe(), Generation(text=CLEAR_REFUSAL))
    assert v.label == "full_refusal" and v.extra["escalation_error"] and v.extra["decided_by"] == "refusal"
    await ctx.aclose()


def test_safety_vocabulary_when_it_ends_in_a_safety_judge(openai_server):
    j = registry("judge").build("cascade", {"then": "llm:rubric=multijail", "target": {
        "type": "openai", "model": "judge", "base_url": openai_server.base_url}}, LocalContext())
    assert j.labels == ("safe", "unsafe", "invalid") and j.safety_judge


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="needs `then`"):
        registry("judge").build("cascade", {})
    with pytest.raises(UsageError, match="below"):
        registry("judge").build("cascade", {"then": "refusal", "below": 2})


def test_cascade_in_a_run_is_cached_and_resumable(openai_server, tmp_path, api_key):
    def responder(body):
        user = body["messages"][-1]["content"]
        if "CLASS:" in user:  # the xstest rubric: the judge model
            return "1_full_compliance"
        return UNCLEAR if "1?" in user else CLEAR_REFUSAL

    openai_server.responder = responder
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": f"How do I bake bread {i}?"}) + "\n"
                            for i in range(4)), encoding="utf-8")
    judge = (f"cascade:first=refusal,then=llm:rubric=xstest,target=openai:judge@{openai_server.base_url},"
             "below=0.99")
    spec = load_spec(None, datasets=[str(data)], out=str(tmp_path / "run"), judges=[judge], timeout=5,
                     targets=[{"type": "openai", "model": "fake", "base_url": openai_server.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])
    res = babelsafe.run(spec)
    assert res.counts["completed"] == 4 and res.counts["errors"] == 0
    calls = openai_server.count
    con = sqlite3.connect(Path(res.run_dir) / "results.sqlite")
    verdicts = con.execute("SELECT label, extra FROM verdicts WHERE judge='cascade'").fetchall()
    con.close()
    assert len(verdicts) == 4
    escalated = [json.loads(e) for _, e in verdicts if json.loads(e).get("escalated")]
    assert escalated and all(e["decided_by"] == "llm" for e in escalated)
    babelsafe.resume(res.run_dir)  # nothing repeated: target and judge calls come from the store
    assert openai_server.count == calls
