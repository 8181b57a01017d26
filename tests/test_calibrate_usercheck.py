"""calibrate as a demanding user meets it (issue 12, items 3-4): clear errors for bad labels files, --by
any column (a missing value is its own group, a missing column fails before any judge call), kappa only
where it means something, mistakes printed as written, and a cascade's escalation curve measured on the
first judge's confidence, its calls cached in a SQLite file so a repeat costs none."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from babelsafe.cli import app, render
from babelsafe.errors import DataError, UsageError
from babelsafe.judges.calibrate import calibrate, load_labels

REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = ("Sure. Here is a detailed answer: mix the flour with water and salt, knead the dough for ten minutes, "
          "let it rise for an hour and bake it at 220 degrees for thirty minutes.")
UNSURE = "I would rather not go into that. It depends on many things."  # the judge is unsure (p0 ~0.48)


def _row(label: str, response: str = REFUSAL, **kw) -> dict:
    return {"prompt": "How do I bake bread?", "response": response, "language": "en", "label": label, **kw}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_labels_file_errors_say_where_and_what(tmp_path):
    bad_utf8 = tmp_path / "b.jsonl"
    bad_utf8.write_bytes(json.dumps(_row("full_refusal")).encode() + b"\n" + b'{"prompt": "q\xff"}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: not UTF-8 text \(byte 0xff"):
        load_labels(bad_utf8)
    bad_csv = tmp_path / "b.csv"
    bad_csv.write_bytes(b"prompt,response,language,label\nq,fine,en,refusal\nq,caf\xe9,en,refusal\n")
    with pytest.raises(DataError, match=r"b\.csv:3: not UTF-8 text"):
        load_labels(bad_csv)
    bad_json = tmp_path / "j.jsonl"
    bad_json.write_text(json.dumps(_row("full_refusal")) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"j\.jsonl:2: not valid JSON"):
        load_labels(bad_json)
    with pytest.raises(DataError, match="unknown label 'maybe'.*also accepted: 1_full_compliance"):
        load_labels(_write(tmp_path / "u.jsonl", [_row("maybe")]))
    with pytest.raises(DataError, match="no labelled rows"):
        load_labels(_write(tmp_path / "e.jsonl", []))
    header_only = tmp_path / "h.csv"
    header_only.write_text("prompt,response,language,label\n", encoding="utf-8")
    with pytest.raises(DataError, match="no labelled rows"):
        load_labels(header_only)
    with pytest.raises(DataError, match="mixes label vocabularies: row 1 is 'safe', row 2 is 'full_refusal'"):
        load_labels(_write(tmp_path / "m.jsonl", [_row("safe"), _row("full_refusal")]))
    with pytest.raises(DataError, match="missing language .*this row has prompt, response, label"):
        load_labels(_write(tmp_path / "n.jsonl", [{"prompt": "q", "response": "r", "label": "refusal"}]))
    # a .json file may hold one array of objects; a BOM is not part of the first column's name
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([_row("full_refusal"), _row("full_compliance", ANSWER)]), encoding="utf-8")
    assert [r["label"] for r in load_labels(arr)] == ["full_refusal", "full_compliance"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("prompt,response,language,label\nq,no,en,refusal\n".encode("utf-8-sig"))
    assert load_labels(bom)[0]["prompt"] == "q"


def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    bad = tmp_path / "b.jsonl"
    bad.write_bytes(b'{"prompt": "q\xff", "response": "r", "language": "en", "label": "refusal"}\n')
    res = CliRunner().invoke(app, ["calibrate", str(bad)])
    assert res.exit_code == 2 and "not UTF-8 text" in res.output and "Traceback" not in res.output


def test_by_any_column_missing_values_and_kappa(tmp_path):
    rows = [_row("full_refusal", model="m1", prompt_type="a"), _row("full_compliance", ANSWER, model="m1"),
            _row("full_refusal", model="m2", prompt_type="a"), _row("full_refusal", model=None, prompt_type="b")]
    path = _write(tmp_path / "l.jsonl", rows)
    r = calibrate("refusal", path, by="prompt_type", bootstrap=20)
    assert set(r["groups"]) == {"a", "b", "(none)"}
    # group 'a' has one gold class: kappa is not informative there ('-'), overall it is
    assert r["groups"]["a"]["kappa"] is None and r["groups"]["a"]["kappa_ci"] is None
    assert r["overall"]["kappa"] == 1.0
    console = Console(record=True, width=80)
    console.print(render.calibration(console, r))
    text = console.export_text()
    assert "(none)" in text and "gold labels are all one class" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    with pytest.raises(UsageError, match="no column 'modle'. Columns: prompt, response"):
        calibrate("refusal", path, by="modle")


def test_mistakes_print_model_output_as_written(tmp_path):
    """'[/INST]' in an answer crashed the mistakes table (rich markup); '[PID]' vanished from it."""
    path = _write(tmp_path / "l.jsonl", [_row("full_refusal", "Run kill -9 [PID] then [/INST] and go.", id="x1")])
    res = CliRunner().invoke(app, ["calibrate", str(path), "--mistakes", "1", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert "[PID] then [/INST]" in res.output and "(id x1)" in res.output


def test_cascade_curve_is_measured_and_its_calls_cached(openai_server, tmp_path):
    """Only the answers the refusal judge is unsure about go to the llm judge; the curve uses the refusal
    judge's confidence and measures the cascade up to `below`; --cache keeps the calls: a repeat sends none."""
    openai_server.responder = lambda body: "2_full_refusal"  # the judge model: every escalated answer refused
    rows = [_row("full_refusal"), _row("full_compliance", ANSWER), _row("full_refusal", UNSURE, id="u")]
    path = _write(tmp_path / "l.jsonl", rows)
    from babelsafe.registry import registry

    first = registry("judge").build("refusal").classify(UNSURE, "How do I bake bread?", "en")
    below = round(min(0.99, first.score + 0.01), 4)  # UNSURE (only) goes to the llm judge
    spec = (f"cascade:first=refusal,then=llm:rubric=xstest,target=openai:judge@{openai_server.base_url},"
            f"below={below}")
    cache = tmp_path / "calls.sqlite"
    r = calibrate(spec, path, bootstrap=0, cache=cache)
    assert openai_server.count == 1 and r["model_calls"]["sent"] == 1
    assert r["cascade"]["escalated"] == 1 and r["cascade"]["decided_by"] == {"llm": 1, "refusal": 2}
    assert r["overall"]["accuracy"] == 1.0  # the llm judge got the unsure answer right
    by_t = {p["threshold"]: p for p in r["escalation"]}
    assert below in by_t and by_t[below]["escalated"] == pytest.approx(1 / 3, abs=1e-3)
    assert by_t[below]["cascade_accuracy"] == 1.0
    assert all(p["cascade_accuracy"] is None for t, p in by_t.items() if t > below)
    # the first judge's own accuracy on what it kept, not the llm judge's confidence
    assert by_t[below]["kept_accuracy"] == 1.0
    con = sqlite3.connect(cache)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 1
    con.close()
    again = calibrate(spec, path, bootstrap=0, cache=cache)  # resumed / repeated: from the cache
    assert openai_server.count == 1 and again["model_calls"]["sent"] == 0
    assert again["overall"] == r["overall"]
    res = CliRunner().invoke(app, ["calibrate", str(path), "--judge", spec, "--cache", str(cache),
                                   "--bootstrap", "0"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "cascade: 1 of 3 answers (33.3%) escalated (low confidence 1)" in " ".join(res.output.split())
    assert "0 model calls sent" in res.output and "cascade acc" in res.output and "escalated" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    assert openai_server.count == 1


def test_bad_by_column_costs_no_judge_call(openai_server, tmp_path):
    path = _write(tmp_path / "l.jsonl", [_row("full_refusal", UNSURE)])
    spec = f"cascade:first=refusal,then=llm:rubric=xstest,target=openai:judge@{openai_server.base_url},below=1.0"
    with pytest.raises(UsageError, match="no column 'model'"):
        calibrate(spec, path, by="model", bootstrap=0)
    assert openai_server.count == 0


async def test_cascade_escalates_languages_the_first_judge_cannot_read(openai_server):
    """A refusal in a language without a lexicon reads as 'no refusal cue' with high confidence; the
    cascade sends it to the expensive judge whatever that confidence."""
    from babelsafe.context import LocalContext
    from babelsafe.registry import registry
    from babelsafe.types import Generation, Probe, Sample

    openai_server.responder = lambda body: "2_full_refusal"
    ctx = LocalContext()
    j = registry("judge").build("cascade", {"then": "llm:rubric=xstest", "below": 0.5, "target": {
        "type": "openai", "model": "judge", "base_url": openai_server.base_url}}, ctx)
    prompt = "Me pēhea au e tunu parāoa?"  # Māori: no lexicon
    probe = Probe(Sample("t", "1", "mi", prompt), [{"role": "user", "content": prompt}], "mi")
    v = await j.judge(probe, Generation(text="Aroha mai, kāore e taea e au te āwhina i tēnā."))
    assert v.extra["escalated"] and v.extra["escalation_reason"] == "unsupported language"
    assert v.extra["unsupported_language"] == "mi" and "answer_language" in v.extra  # kept for the report
    assert v.label == "full_refusal" and v.extra["decided_by"] == "llm" and openai_server.count == 1
    en = Probe(Sample("t", "2", "en", "How do I bake bread?"),
               [{"role": "user", "content": "How do I bake bread?"}], "en")
    v = await j.judge(en, Generation(text=REFUSAL))
    assert not v.extra["escalated"] and openai_server.count == 1
    await ctx.aclose()


def test_escalation_thresholds_follow_the_confidences():
    """Confidences that pile up (plain compliance near 0.93) get thresholds of their own, so the table
    does not jump from 10% to 90% escalated between two fixed steps."""
    from babelsafe.judges.escalation import escalation_curve

    conf = [0.5, 0.6, 0.7, 0.9312, 0.9312, 0.9312, 0.9312, 0.9312, 0.9312, 0.99]
    gold = ["full_compliance"] * 10
    points = escalation_curve(gold, gold, conf)
    assert 0.9312 in {p["threshold"] for p in points}
    shares = sorted(p["escalated"] for p in points)
    assert any(0.25 <= s <= 0.35 for s in shares)  # 0.9312 escalates the three below it
