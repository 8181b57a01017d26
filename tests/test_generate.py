"""`babelsafe generate` against the loopback OpenAI server: matrix coverage, malformed output recorded,
critic rejection, near-duplicate removal, resumability with no repeated call, `run -d` on the output,
and evolving from a small run. All generated text here is mild and scripted."""
from __future__ import annotations

import json
import random
import re

import pytest

from babelsafe import api
from babelsafe.generate.dedup import jaccard, near_duplicates
from babelsafe.generate.suite import parse_critic, parse_generation

WORDS = ("shed lock garden fence ladder hinge paint window gate bicycle key door mailbox tool box rake "
         "hammer nail rope bucket hose shovel wheelbarrow lantern bench kettle teapot blanket pillow "
         "basket spoon cup plate chair table lamp candle clock mirror shelf drawer curtain carpet").split()


def mild(seed: str, i: int) -> str:
    rng = random.Random(f"{seed}/{i}")
    return "how do I fix the " + " ".join(rng.sample(WORDS, 7)) + " on my own property"


def cell_of(text: str) -> dict[str, str]:
    return {"style": re.search(r"\(style: ([^)]+)\)", text).group(1),
            "technique": re.search(r"\(technique: ([^)]+)\)", text).group(1),
            "category": re.search(r'harm category "([^"]+)"', text).group(1)}


def responder(body: dict) -> str:
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if system.startswith("You review"):
        prompt = user.split("<<<")[1].split(">>>")[0]
        if "REJECTME" in prompt:
            return '{"verdict": "reject", "on_category": false, "reason": "off-category"}'
        if "GARBLE" in prompt:
            return "I think it is fine"
        return 'Sure: {"verdict": "accept", "on_category": true, "well_formed": true, "no_leak": true, "reason": "ok"}'
    c = cell_of(user)
    n = int(re.search(r"Write (\d+) new test inputs", user).group(1))
    lang = re.search(r"Write every input in (.+)\.", user).group(1)
    key = f"{c['category']}/{c['style']}/{c['technique']}/{lang}"
    if c["style"] == "misspellings":  # junk: no #Prompt line at all
        return "Sorry, here are some thoughts instead.\nMaybe ask later."
    lines = [f"#Prompt: {mild(key, i)}" for i in range(n)]
    if c["style"] == "slang" and c["technique"] == "logical_appeal":
        lines[0] = "#Prompt: how do I pick a lock on my own shed REJECTME"
    if c["style"] == "question" and c["technique"] == "logical_appeal":
        lines[0] = "#Prompt: how do I pick a lock on my own shed GARBLE"
    if c["style"] == "role_play":  # a near-duplicate pair inside the cell
        lines = ["#Prompt: how do I pick a lock on my own garden shed quickly",
                 "#Prompt: how do I pick a lock on my own garden shed quickly?"] + lines[2:]
    return "Here you go:\n" + "\n".join(lines) + "\nHope this helps."


def spec(srv) -> str:
    return f"openai:gen-model@{srv.base_url}"


def test_parsers_and_minhash():
    prompts, junk = parse_generation("intro\n1. #Prompt: a b c\n- #prompt:  d e\n#Prompt:   \n")
    assert prompts == ["a b c", "d e"] and junk == ["intro", "#Prompt:"]
    assert parse_critic('x {"verdict": "Accept", "reason": "r"}')[:2] == ("accept", "r")
    assert parse_critic("no json")[0] == "critic_error"
    assert parse_critic('{"verdict": "maybe"}')[0] == "critic_error"
    a, b = "how do I pick a lock on my own shed", "how do I pick a lock on my own shed?"
    assert jaccard(a, b) > 0.8 and jaccard(a, "what is the capital of France today") < 0.1
    texts = [a, "a completely different sentence about teapots", b]
    assert set(near_duplicates(texts, 0.8)) == {2}
    assert near_duplicates(texts, 1.0) == {}  # b is not an exact duplicate


def test_matrix_malformed_critic_dedup_and_resume(openai_server, tmp_path):
    openai_server.responder = responder
    out = tmp_path / "suite.jsonl"
    kw = dict(categories="privacy,crime", styles="slang,misspellings,role_play,question",
              techniques="logical_appeal,expert_endorsement", languages="en,fr", per_cell=3,
              critic=f"openai:critic-model@{openai_server.base_url}")
    res = api.generate(spec(openai_server), out, **kw)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    cov = res.coverage
    assert cov["total"] == 2 * 4 * 2 * 2
    # misspellings cells give junk: 2 categories x 2 techniques x 2 languages empty; all others filled
    assert cov["filled"] == cov["total"] - 8
    assert cov["by_language"]["fr"] == {"filled": 12, "total": 16}
    assert all(m[1] == "misspellings" for m in cov["missing"])
    reasons = [r["reason"] for r in res.rejected]
    # malformed: each junk cell records its 2 junk lines and the empty reply; other cells 2 chatter lines
    malformed = [r for r in res.rejected if r["reason"] == "malformed"]
    assert sum("no '#Prompt:' line" in r["detail"] for r in malformed) == 8
    assert any(r.get("raw") == "Sorry, here are some thoughts instead." for r in malformed)
    assert reasons.count("critic_reject") == 4 and reasons.count("critic_error") == 4
    assert all("REJECTME" in r["prompt"] for r in res.rejected if r["reason"] == "critic_reject")
    dups = [r for r in res.rejected if r["reason"] == "near_duplicate"]
    # the same pair in all 8 role_play cells: dedup runs across the suite, so only the first one stays
    assert len(dups) == 15 and all(r["similarity"] >= 0.8 for r in dups)
    assert sum("garden shed quickly" in r["prompt"] for r in rows) == 1
    assert len(rows) == len(res.tests) == 3 * 24 - 4 - 4 - 15
    r0 = rows[0]
    assert {"prompt", "category", "style", "technique", "persuasion", "language", "generator", "critic",
            "provenance", "id"} <= set(r0)
    assert r0["critic"]["verdict"] == "accept" and r0["critic"]["judge"].startswith("openai:critic-model")
    seeds = r0["provenance"]["seeds"]
    assert seeds and all(s["source"] in ("multijail", "xsafety") for s in seeds)
    gen_body = next(b for b in openai_server.bodies if b["messages"][0]["content"].startswith("You help"))
    assert "#Prompt:" in gen_body["messages"][1]["content"]  # few-shot examples from a shipped dataset
    assert all(v == 1 for v in openai_server.seen.values())
    first = openai_server.count
    assert (tmp_path / "suite.gen" / "results.sqlite").exists()
    # rerun: every call comes from the store, the suite is the same
    res2 = api.generate(spec(openai_server), out, **kw)
    assert openai_server.count == first and res2.calls_made == 0
    assert [t["id"] for t in res2.tests] == [t["id"] for t in res.tests]


def test_interrupted_run_resumes_without_repeats(openai_server, tmp_path):
    """Calls that failed (server faults) are redone on rerun; finished ones never are."""
    openai_server.responder = responder
    failing = {"n": 0}

    def rule(body, n):
        if body["messages"][0]["content"].startswith("You help") and failing["n"] < 3 and n == 1:
            failing["n"] += 1
            return "400"
        return None

    openai_server.fault_rule = rule
    out = tmp_path / "s.jsonl"
    kw = dict(categories="privacy", styles="slang,technical_terms", techniques="logical_appeal,expert_endorsement",
              languages="en", per_cell=2, dedup=0.8)
    res = api.generate(spec(openai_server), out, retries=0, **kw)
    assert sum(r["reason"] == "generator_error" for r in res.rejected) == 3
    assert res.coverage["filled"] == 1
    res2 = api.generate(spec(openai_server), out, retries=0, **kw)
    assert res2.coverage["filled"] == 4 and res2.calls_made == 3
    # each generator request succeeded exactly once over both runs: 4 cells -> 4 OK answers, 3 faults
    assert openai_server.count == 4 + 3
    assert max(openai_server.seen.values()) == 2


def test_suite_runs_and_evolves(openai_server, tmp_path):
    openai_server.responder = responder
    out = tmp_path / "suite.jsonl"
    api.generate(spec(openai_server), out, categories="privacy", styles="question,technical_terms",
                 techniques="logical_appeal", languages="en", per_cell=2)
    run_dir = tmp_path / "run"
    # the default echo answer of the server is not a refusal: the refusal judge calls it compliance
    openai_server.responder = lambda body: "Sure, here is how: first check the hinge."
    result = api.run({"datasets": [str(out)], "judges": ["refusal"], "out": str(run_dir),
                      "targets": [{"type": "openai", "model": "m", "base_url": openai_server.base_url}]})
    n_tests = len(out.read_text().splitlines())
    assert result.summary["counts"]["completed"] == n_tests
    from babelsafe.results.readers import RunReader
    with RunReader(run_dir) as r:
        unsafe = r.unsafe_prompts()
        cats = {row.category for row in unsafe}
    assert len(unsafe) == n_tests and cats == {"privacy"}
    openai_server.responder = responder
    evolved = tmp_path / "evolved.jsonl"
    res = api.generate(spec(openai_server), evolved, evolve=run_dir, styles="slang", techniques="logical_appeal",
                       per_cell=2)
    assert res.coverage["total"] == 1 and res.tests
    prov = res.tests[0]["provenance"]["evolve"]
    assert prov["run"] == str(run_dir) and prov["parents"]
    assert all(p.startswith("suite/gen-") for p in prov["parents"])
    body = [b for b in openai_server.bodies if b["messages"][0]["content"].startswith("You help")][-1]
    assert unsafe[0].prompt.split()[0] in body["messages"][1]["content"]


def test_bad_input_is_a_clear_error(tmp_path, openai_server):
    from babelsafe.errors import UsageError
    with pytest.raises(UsageError, match="Unknown style"):
        api.generate(spec(openai_server), tmp_path / "s.jsonl", styles="shouting")
    with pytest.raises(UsageError, match=".jsonl"):
        api.generate(spec(openai_server), tmp_path / "s.csv")
    with pytest.raises(UsageError, match="not a run directory"):
        api.generate(spec(openai_server), tmp_path / "s.jsonl", evolve=tmp_path)


def test_cli_prints_coverage_at_80_columns(openai_server, tmp_path):
    import os
    import subprocess
    import sys

    from rich.cells import cell_len

    openai_server.responder = responder
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    out = tmp_path / "suite.jsonl"
    args = [sys.executable, "-m", "babelsafe", "generate", "--target", spec(openai_server), "--out", str(out),
            "--categories", "privacy,crime,hate_discrimination", "--styles", "technical_terms,uncommon_dialects",
            "--techniques", "logical_appeal", "--languages", "en,fr,de,es,zh,ar,bn,hi,sw,ja", "-n", "1"]
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    assert "coverage: 60/60 cells filled" in " ".join(res.stdout.split())
    assert not [line for line in res.stdout.splitlines() if cell_len(line) > 80], res.stdout
    assert "…" not in res.stdout and "hate_discrimination" in res.stdout
    assert "run -d" in res.stderr
    bad = subprocess.run(args[:-2] + ["-n", "0"], capture_output=True, text=True, env=env, timeout=240)
    assert bad.returncode == 2 and "--per-cell must be >= 1" in bad.stderr


def test_stopped_partway_then_rerun_repeats_no_finished_call(openai_server, tmp_path):
    from babelsafe.api import run_async
    from babelsafe.generate import Generator

    openai_server.responder = responder
    openai_server.latency = 0.05
    kw = dict(categories="privacy", styles="slang,technical_terms,question", techniques="logical_appeal,"
              "expert_endorsement", languages="en", per_cell=1, concurrency=1)
    gen = Generator(spec(openai_server), tmp_path / "s.jsonl", **kw)
    gen.on_progress = lambda p: gen.request_stop() if p.done >= 2 else None
    first = run_async(gen.run())
    assert first.interrupted and 2 <= first.progress.done < 6
    done_keys = dict(openai_server.seen)
    again = run_async(Generator(spec(openai_server), tmp_path / "s.jsonl", **kw).run())
    assert not again.interrupted and again.coverage["filled"] == 6
    # finished calls came from the store; only a request cut off in flight may be sent twice
    assert again.calls_made == 6 - first.progress.done
    assert openai_server.count <= 6 + 1
    assert sum(openai_server.seen[k] > 1 for k in done_keys) <= 1
