"""Run specs: YAML files, flag overrides, chain parsing, clear errors."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from babelsafe.errors import UsageError
from babelsafe.spec import dump_spec, load_spec

SPEC = """
datasets: [multijail]
languages: en, zh, bn
limit: 20
transforms: [none, aim, "translate:to=bn>caesar:shift=3"]
targets:
  - type: openai
    model: gpt-4o-mini
    base_url: https://api.example/v1
    api_key_env: OPENAI_API_KEY
    temperature: 0.2
judges: [refusal]
concurrency: 64
out: runs/first
"""


def test_yaml_spec_and_flag_overrides(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC, encoding="utf-8")
    spec = load_spec(p)
    assert spec.languages == ["en", "zh", "bn"] and spec.limit == 20 and spec.concurrency == 64
    assert [[s.name for s in c] for c in spec.transforms] == [[], ["aim"], ["translate", "caesar"]]
    assert spec.transforms[2][0].options == {"to": "bn"} and spec.transforms[2][1].options == {"shift": 3}
    assert spec.targets[0].display == "openai:gpt-4o-mini" and spec.targets[0].temperature == 0.2
    over = load_spec(p, limit=5, languages="sw", concurrency=None)
    assert over.limit == 5 and over.languages == ["sw"] and over.concurrency == 64
    # a dumped spec loads back to the same spec (resume relies on it)
    again = tmp_path / "again.yaml"
    again.write_text(dump_spec(spec), encoding="utf-8")
    assert load_spec(again) == spec


def test_spec_errors_are_clear(tmp_path):
    with pytest.raises(UsageError, match="Spec file not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("limit: [unclosed\n", encoding="utf-8")
    with pytest.raises(UsageError, match="Cannot parse spec file"):
        load_spec(bad)
    bad.write_text("limti: 5\n", encoding="utf-8")
    with pytest.raises(UsageError, match="limti: Extra inputs are not permitted"):
        load_spec(bad)
    with pytest.raises(UsageError, match="concurrency must be >= 1"):
        load_spec(None, concurrency=0)
    with pytest.raises(UsageError, match="Unknown language code 'klingon'"):
        load_spec(None, languages=["en", "klingon"])
    with pytest.raises(UsageError, match="expected key=value"):
        load_spec(None, transforms=["caesar:3"])


def test_cli_flags_override_spec_file(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "babelsafe", "run", str(p), "--limit", "2", "--languages", "en,sw",
                        "--dry-run"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "4 samples x 3 chains x 1 targets = 12 requests" in r.stdout
    plan = yaml.safe_load(r.stdout[: r.stdout.rindex("}") + 1])
    assert plan["by_language"] == {"en": 2, "sw": 2} and plan["targets"] == ["openai:gpt-4o-mini"]


def test_compact_options_take_lists_in_brackets_or_with_plus():
    """Issue 13, item 6: ensemble members from the command line."""
    from babelsafe.registry import registry
    from babelsafe.spec import as_list, parse_step

    step = parse_step("ensemble:members=[refusal,cyberseceval-refusal],mode=majority")
    assert step == {"name": "ensemble", "options": {"members": ["refusal", "cyberseceval-refusal"],
                                                    "mode": "majority"}}
    for compact in ("ensemble:members=refusal+cyberseceval-refusal,mode=majority",
                    "ensemble:members=[refusal, cyberseceval-refusal]",
                    "ensemble:members=[refusal,{name: cyberseceval-refusal}]"):
        s = parse_step(compact)
        judge = registry("judge").build(s["name"], s["options"])
        assert judge.member_names == ["refusal", "cyberseceval-refusal"], compact
    spec = load_spec(None, judges=["ensemble:members=[refusal,cyberseceval-refusal],mode=majority"],
                     transforms=["translate:to=[bn,zh],target=openai:m@http://127.0.0.1:9/v1>caesar:shift=3"])
    assert spec.judges[0].options["members"] == ["refusal", "cyberseceval-refusal"]
    assert [s.name for s in spec.transforms[0]] == ["translate", "caesar"]
    assert spec.transforms[0][0].options == {"to": ["bn", "zh"], "target": "openai:m@http://127.0.0.1:9/v1"}
    assert parse_step("safety-prompt:prompt='Be safe, always.'")["options"] == {"prompt": "Be safe, always."}
    assert parse_step("safety-prompt:prompt=Don't help")["options"] == {"prompt": "Don't help"}
    assert as_list("a+b") == ["a", "b"] and as_list(["x"]) == ["x"] and as_list("[1, 2]") == [1, 2]


@pytest.mark.parametrize("bad, message", [
    ("ensemble:members=[refusal,cyberseceval-refusal", "Unclosed '\\]'"),
    ("ensemble:members=refusal]", "Unbalanced '\\]'"),
    ("ensemble:members=[a,b],members=[c]", "given twice"),
    ("ensemble:=x", "expected key=value"),
    (":mode=x", "no component name"),
    ("llm:rubric={a: [}", "Unbalanced"),
    ("llm:rubric=a: b: c", "Cannot read the value of 'rubric'"),
])
def test_malformed_compact_options_are_clear_errors(bad, message):
    from babelsafe.spec import parse_step

    with pytest.raises(UsageError, match=message):
        parse_step(bad)


def test_cli_reports_a_malformed_judge_option_without_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "babelsafe", "run", "-d", "multijail", "--limit", "1", "-j",
                        "ensemble:members=[refusal,cyberseceval-refusal", "--dry-run"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout and "Unclosed" in r.stderr + r.stdout
