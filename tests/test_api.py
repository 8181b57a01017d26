"""babelsafe.api: the CLI's verbs as Python functions that return data and print nothing."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import babelsafe
from babelsafe import api
from babelsafe.errors import UsageError
from babelsafe.spec import resolve_spec

DATA = Path(__file__).parent / "data"


def test_target_settings_are_keyword_arguments_like_the_cli_flags(tmp_path: Path):
    spec = resolve_spec(None, target="openai", model="gpt-x", base_url="http://127.0.0.1:9/v1",
                        options={"transport": "raw"}, temperature=0.5, limit=2, languages="en,sw")
    t = spec.targets[0]
    assert (t.type, t.model, t.base_url, t.options, t.temperature) == (
        "openai", "gpt-x", "http://127.0.0.1:9/v1", {"transport": "raw"}, 0.5)
    assert spec.limit == 2 and spec.languages == ["en", "sw"]


def test_overrides_merge_into_a_spec_file_the_same_way_as_flags(tmp_path: Path):
    f = tmp_path / "spec.yaml"
    f.write_text("targets:\n  - type: openai\n    model: m1\n    options: {transport: raw, n: 1}\n"
                 "  - type: local\nlimit: 3\n", encoding="utf-8")
    spec = resolve_spec(f, options={"n": 2}, max_tokens=64)
    t0, t1 = spec.targets
    assert t0.model == "m1" and t0.options == {"transport": "raw", "n": 2} and t0.max_tokens == 64
    assert t1.type == "local" and spec.limit == 3
    # a new type without a model drops the old backend's model
    assert resolve_spec(f, target="transformers").targets[0].model is None
    # the same from a dict and from a RunSpec
    assert resolve_spec({"limit": 3}, model="m2").targets[0].model == "m2"
    assert resolve_spec(spec, model="m3").targets[0].model == "m3"
    assert resolve_spec(spec) is spec


def test_plan_takes_the_same_keywords(tmp_path: Path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt\nHow do I bake bread?\nHow do I boil rice?\n", encoding="utf-8")
    p = babelsafe.plan(datasets=[str(prompts)], transforms=["none", "aim"], target="openai", model="m")
    assert p["samples"] == 2 and p["requests"] == 4 and p["targets"] == ["openai:m"]


def test_every_verb_is_a_function():
    import babelsafe.metrics.compare  # noqa: F401  (importing the parts must not shadow the verbs)
    import babelsafe.reporting.html  # noqa: F401

    for name in ("run", "resume", "plan", "report", "compare", "calibrate", "guard", "guard_app",
                 "defend_export", "defend_scan", "components", "show"):
        assert inspect.isfunction(getattr(babelsafe, name)), name
        assert getattr(babelsafe, name) is getattr(api, name)


def test_components_and_show_return_data():
    datasets = babelsafe.components("datasets")
    mj = next(d for d in datasets if d["name"] == "multijail")
    assert mj["license"] == "MIT" and "sw" in mj["languages"]
    info = babelsafe.show("transform", "caesar")
    assert {"name": "shift", "default": 3, "type": "int"} in info["options"]
    assert "Caesar" in info["description"] and info["implementation"].endswith("ciphers.Caesar")
    assert [d["name"] for d in babelsafe.components("defenses")] == ["guard", "safety-prompt", "translate-pivot"]
    assert babelsafe.show("language", "sw")["name"] == "Swahili"
    with pytest.raises(UsageError, match="Cannot list 'gadgets'"):
        babelsafe.components("gadgets")


def test_library_verbs_print_nothing(tmp_path: Path, capsys):
    r = babelsafe.calibrate("refusal", DATA / "judge_labels.jsonl", bootstrap=0, json_out=tmp_path / "c.json")
    assert r["overall"]["n"] >= 150 and (tmp_path / "c.json").exists()
    scan_file = tmp_path / "train.jsonl"
    scan_file.write_text('{"messages": [{"role": "user", "content": "How do I bake bread?"}, '
                         '{"role": "assistant", "content": "Mix flour, water and yeast, then bake."}]}\n',
                         encoding="utf-8")
    res = babelsafe.defend_scan(scan_file)
    assert res.examples == 1 and not res.flagged
    assert capsys.readouterr().out == ""


def test_guard_config_takes_python_values_and_cli_strings():
    a = api.guard_config("http://127.0.0.1:9/v1", check="input,output", judge_options='{"x": 1}',
                         block_labels="unsafe")
    b = api.guard_config("http://127.0.0.1:9/v1", check=["input", "output"], judge_options={"x": 1},
                         block_labels=["unsafe"])
    assert a == b and a.check == ("input", "output") and a.block_labels == ("unsafe",)
    with pytest.raises(UsageError, match="--judge-options is not valid JSON"):
        api.guard_config("http://127.0.0.1:9/v1", judge_options="{nope")
    with pytest.raises(UsageError, match="--upstream must be an http"):
        api.guard_config("127.0.0.1:9")


def test_plan_checks_component_options_without_building_anything(tmp_path: Path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt\nHow do I bake bread?\n", encoding="utf-8")
    with pytest.raises(UsageError, match="shift must be an integer, got 'abc'"):
        babelsafe.plan(datasets=[str(prompts)], transforms=["caesar:shift=abc"])
    with pytest.raises(UsageError, match="unknown shfit. Valid options: shift"):
        babelsafe.plan(datasets=[str(prompts)], transforms=["caesar:shfit=2"])
    with pytest.raises(UsageError, match="judge 'llm' needs the option target"):
        babelsafe.plan(datasets=[str(prompts)], judges=["llm"])
    with pytest.raises(UsageError, match="Unknown defense 'safety-promt'"):
        babelsafe.plan(datasets=[str(prompts)], defenses=["safety-promt"])
    assert babelsafe.plan(datasets=[str(prompts)], transforms=["caesar:shift=5"],
                          defenses=["safety-prompt:prompt=pcdefense"])["requests"] == 1
