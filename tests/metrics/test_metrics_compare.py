"""`babelsafe compare`: paired per-prompt comparison of two real run stores."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from babelsafe.errors import UsageError
from babelsafe.metrics import mcnemar_exact, paired_difference
from babelsafe.api import compare as compare_api
from babelsafe.cli import render
from babelsafe.metrics.compare import compare
from babelsafe.results import Store
from toy_store import write_probe


def _run(path: Path, target: str, unsafe: dict[str, set[int]], n: int = 20, extra: list | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with Store(path / "results.sqlite") as st:
        st.write_meta("spec", {"judges": [{"name": "refusal"}]})
        for lang, bad in unsafe.items():
            for i in range(n):
                write_probe(st, str(i), lang, "full_compliance" if i in bad else "full_refusal", target=target)
        for args, kw in extra or []:
            write_probe(st, *args, target=target, **kw)
    return path


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    # en: items 0-9 unsafe only in A, 10-11 only in B, 12-13 in both, 14-19 in neither
    a = _run(tmp_path / "a", "model-a", {"en": set(range(0, 10)) | {12, 13}, "bn": {0, 1, 2}},
             extra=[(("99", "en", None), {"outcome": "error"}),        # error in A: pair excluded
                    (("b1", "en", "full_compliance"), {"benign": True})])
    b = _run(tmp_path / "b", "model-b", {"en": {10, 11, 12, 13}, "bn": {0, 1, 2}},
             extra=[(("99", "en", "full_compliance"), {}),
                    (("77", "en", "full_refusal"), {}),                # only in B: unpaired
                    (("b1", "en", "full_refusal"), {"benign": True})])
    return a, b


def test_paired_comparison_per_language(runs):
    a, b = runs
    r = compare(a, b)
    assert r["judge"] == "refusal" and r["pairing"] == "the single target of each run"
    assert r["target_pairs"] == [["model-a", "model-b"]]
    en = r["by_language"]["en"]
    assert (en["pairs"], en["both"], en["a_only"], en["b_only"], en["neither"]) == (20, 2, 10, 2, 6)
    assert en["rate_a"]["rate"] == pytest.approx(0.6) and en["rate_b"]["rate"] == pytest.approx(0.2)
    assert en["diff"]["diff"] == pytest.approx(-0.4)
    assert en["mcnemar_p"] == pytest.approx(2 * (1 + 12 + 66) / 4096)
    ref = paired_difference(2, 2, 10, 6)  # p1 = B's rate, p2 = A's rate
    assert en["diff"]["lo"] == pytest.approx(ref["lo"]) and en["diff"]["hi"] < 0
    bn = r["by_language"]["bn"]
    assert bn["diff"]["diff"] == 0 and bn["mcnemar_p"] == 1.0
    assert r["overall"]["pairs"] == 40 and r["overall"]["mcnemar_p"] == pytest.approx(mcnemar_exact(10, 2))
    assert r["excluded_pairs"] == 1 and r["unpaired_b"] == 1 and r["unpaired_a"] == 0
    # benign prompts: over-refusal compared apart (A complied, B refused)
    assert r["over_refusal"]["en"]["b_only"] == 1 and r["over_refusal"]["en"]["pairs"] == 1
    assert list(r["by_language"]) == ["en", "bn"]


def test_same_labels_pair_by_name_and_cli_json(tmp_path: Path, capsys):
    a = _run(tmp_path / "a", "m", {"en": {1}}, n=4)
    b = _run(tmp_path / "b", "m", {"en": {1, 2}}, n=4)
    out = tmp_path / "cmp.json"
    r = compare_api(a, b, json_out=out)
    assert r["pairing"] == "same target labels"
    assert json.loads(out.read_text())["by_language"]["en"]["b_only"] == 1
    assert capsys.readouterr().out == ""  # the library prints nothing; the CLI renders
    con = Console(width=80, record=True)
    con.print(render.comparison(con, r))
    assert "McNemar" in con.export_text()


def test_compare_errors(tmp_path: Path):
    a = _run(tmp_path / "a", "m", {"en": {1}}, n=2)
    with pytest.raises(UsageError, match="not a babelsafe run"):
        compare(a, tmp_path / "nope")
    c = tmp_path / "c"
    c.mkdir()
    with Store(c / "results.sqlite") as st:
        write_probe(st, "1", "en", "safe", judge="guard", target="m")
    with pytest.raises(UsageError, match="share no judge"):
        compare(a, c)


def _run_t(path: Path, transforms: dict[str, dict[str, set[int]]], n: int = 10, target: str = "m") -> Path:
    """A run with `transforms` = {transform: {lang: unsafe items}} (transform "" = the plain prompt)."""
    path.mkdir(parents=True, exist_ok=True)
    with Store(path / "results.sqlite") as st:
        st.write_meta("spec", {"judges": [{"name": "refusal"}]})
        for tr, by_lang in transforms.items():
            for lang, bad in by_lang.items():
                for i in range(n):
                    write_probe(st, str(i), lang, "full_compliance" if i in bad else "full_refusal",
                                target=target, transform=tr or None)
    return path


def test_attack_run_pairs_with_its_baseline_on_sample_and_language(tmp_path: Path):
    """Issue 13, item 4: RUN_none vs RUN_aim pairs every prompt (before: 0 pairs, all unpaired)."""
    plain = _run_t(tmp_path / "none", {"": {"en": {0}, "bn": {0, 1}}})
    aim = _run_t(tmp_path / "aim", {"aim": {"en": {0, 1, 2, 3}, "bn": {0, 1, 2, 3, 4, 5}}})
    r = compare(plain, aim)
    assert r["pair_on"] == ["sample", "language"] and r["unpaired_a"] == r["unpaired_b"] == 0
    assert r["by_language"]["en"]["pairs"] == 10 and r["by_language"]["en"]["b_only"] == 3
    assert r["by_language"]["bn"]["diff"]["diff"] == pytest.approx(0.4)
    assert list(r["by_transform"]) == ["none -> aim"]
    strict = compare(plain, aim, pair_on="sample,language,transform")
    assert strict["overall"]["pairs"] == 0 and strict["unpaired_a"] == 20 and strict["unpaired_b"] == 20


def test_one_run_with_baseline_and_attack_compares_within_itself(tmp_path: Path):
    run = _run_t(tmp_path / "both", {"": {"en": {0}}, "aim": {"en": {0, 1, 2}}, "cou": {"en": set()}})
    assert compare(run, run)["pair_on"] == ["sample", "language", "transform"]  # shared transforms: like with like
    with pytest.raises(UsageError, match="several probes per pair key"):
        compare(run, run, pair_on="sample,language")
    r = compare(run, run, transform_a="none", transform_b="aim")
    assert r["overall"]["pairs"] == 10 and r["overall"]["b_only"] == 2 and r["overall"]["a_only"] == 0
    assert r["transform_a"] == ["none"] and r["transform_b"] == ["aim"]
    with pytest.raises(UsageError, match="no probes with transform 'nope'"):
        compare(run, run, transform_a="nope")
    with pytest.raises(UsageError, match="--pair-on"):
        compare(run, run, pair_on="language,colour")


def test_cli_compare_pairs_attack_with_baseline(tmp_path: Path):
    import subprocess
    import sys

    run = _run_t(tmp_path / "both", {"": {"en": {0}}, "aim": {"en": {0, 1, 2}}})
    r = subprocess.run([sys.executable, "-m", "babelsafe", "compare", str(run), str(run), "--transform-a", "none",
                        "--transform-b", "aim", "--json", str(tmp_path / "c.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "c.json").read_text())["overall"]["b_only"] == 2
    bad = subprocess.run([sys.executable, "-m", "babelsafe", "compare", str(run), str(run), "--pair-on",
                          "sample,language"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--transform-a" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
