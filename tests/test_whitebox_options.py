"""White-box targets' option parsing, registration and CLI wiring: no torch needed."""
from __future__ import annotations

import pytest

from babelsafe.errors import UsageError
from babelsafe.registry import registry
from babelsafe.spec import load_spec, target_spec
from babelsafe.whitebox import hooks, ranker


def test_compact_options():
    assert hooks.kv_options("aligned=org/chat,base=/m/base,alpha=0.3") == \
        {"aligned": "org/chat", "base": "/m/base", "alpha": 0.3}
    assert hooks.kv_options("org/model") == {"model": "org/model"}
    assert hooks.kv_options(None) == {}
    with pytest.raises(UsageError, match="key=value"):
        hooks.kv_options("aligned=a,oops")
    merged = hooks.merge_options("model=m,layer=3", {"coef": -2, "timeout": 60, "max_connections": 4},
                                 {"model", "layer", "coef"})
    assert merged == {"model": "m", "layer": 3, "coef": -2}  # runner plumbing ignored
    with pytest.raises(UsageError, match="Unknown option"):
        hooks.merge_options("model=m,lyer=3", {}, {"model", "layer"})


def test_target_specs_in_compact_form():
    ts = target_spec("ed:aligned=org/chat,base=org/base,alpha=0.6")
    assert ts.type == "ed" and ts.model == "aligned=org/chat,base=org/base,alpha=0.6"
    # what `--target 'steer:model=m,layer=2'` becomes through the CLI's override path
    spec = load_spec(None, targets=[{"type": "steer:model=m,layer=2,coef=-4"}])
    assert spec.targets[0].type == "steer" and spec.targets[0].model == "model=m,layer=2,coef=-4"
    assert load_spec(None, targets=[{"type": "transformers", "model": "x"}]).targets[0].type == "transformers"


def test_registered_targets_and_missing_backend_message():
    names = registry("target").names()
    assert {"ed", "steer", "heads"} <= set(names)
    for n in ("ed", "steer", "heads"):
        assert registry("target").describe(n)["description"]
    with pytest.raises(UsageError, match="needs both models"):
        registry("target").build("ed", {"model": "aligned=a"})


def test_ranker_statistics_without_torch():
    assert ranker.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert ranker.spearman([1, 2, 3, 4], [10, 20, 15, 30]) == pytest.approx(0.8)
    assert ranker.pearson([1, 1, 1], [1, 2, 3]) is None


def test_cli_lists_whitebox_verbs():
    from typer.testing import CliRunner

    from babelsafe.cli import app

    res = CliRunner().invoke(app, ["whitebox", "--help"])
    assert res.exit_code == 0
    for verb in ("steer-vector", "heads-scan", "rank-languages"):
        assert verb in res.output
