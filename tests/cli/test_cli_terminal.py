"""The CLI as a new user sees it in an 80-column terminal: nothing cut, no word broken, wide tables stacked.

Each test runs the real `babelsafe` command in a subprocess with COLUMNS=80.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from babelsafe.registry import registry

DATA = Path(__file__).parents[1] / "data"


def babelsafe(*args: str, columns: int = 80, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "babelsafe", *args], capture_output=True, text=True, env=env,
                          timeout=240, cwd=cwd)


def check_width(text: str, width: int = 80) -> None:
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"lines over {width} columns:\n" + "\n".join(wide)
    assert "…" not in text, "a cell or header was cut:\n" + text


@pytest.mark.parametrize("kind", ["datasets", "transforms", "targets", "judges", "defenses", "languages"])
def test_list_fits_80_columns_and_keeps_names_whole(kind):
    res = babelsafe("list", kind)
    assert res.returncode == 0, res.stderr
    check_width(res.stdout)
    tokens = {t.strip(",") for line in res.stdout.splitlines() for t in line.split()}
    names = registry(kind[:-1]).names() if kind != "languages" else ["en", "sw", "bn"]
    for name in names:
        assert name in tokens, f"'{name}' is not shown whole:\n{res.stdout}"


def test_list_datasets_is_compact_and_verbose_adds_details():
    compact = babelsafe("list", "datasets").stdout
    for col in ("name", "languages", "size", "license"):
        assert col in compact
    assert "Deng et al." not in compact  # sources and citations only with --verbose / show
    verbose = babelsafe("list", "datasets", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    check_width(verbose.stdout)
    assert "Deng et al." in verbose.stdout and "multijail" in verbose.stdout


def test_show_gives_everything_about_one_component():
    res = babelsafe("show", "dataset", "multijail")
    assert res.returncode == 0, res.stderr
    check_width(res.stdout)
    for text in ("license", "MIT", "languages", "Deng et al."):
        assert text in res.stdout
    caesar = babelsafe("show", "transform", "caesar")
    assert caesar.returncode == 0 and "shift" in caesar.stdout and "3" in caesar.stdout
    bad = babelsafe("show", "transform", "ceasar")
    assert bad.returncode == 2 and "Did you mean 'caesar'" in bad.stderr


def test_calibrate_table_keeps_its_headers_at_80_columns():
    res = babelsafe("calibrate", "--judge", "refusal", str(DATA / "judge_labels.jsonl"), "--bootstrap", "20")
    assert res.returncode == 0, res.stderr
    check_width(res.stdout)
    for header in ("acc [95% CI]", "kappa [95% CI]", "bin acc", "F1 comply", "F1 refuse", "errors"):
        assert header in res.stdout, res.stdout
    # stacked: the table that did not fit is split, each part keeping the language column
    assert res.stdout.count("lang ") >= 2 and res.stdout.count("overall") >= 2


def test_calibrate_is_one_table_when_the_terminal_is_wide():
    res = babelsafe("calibrate", "--judge", "refusal", str(DATA / "judge_labels.jsonl"), "--bootstrap", "20",
                    columns=200)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("overall") == 1


def test_option_type_error_says_what_the_option_should_be(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt\nHow do I bake bread?\n", encoding="utf-8")
    res = babelsafe("run", "-d", str(prompts), "-t", "caesar:shift=abc", "--target", "openai", "--model", "m",
                    "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run"), "--no-report")
    assert res.returncode == 2
    assert "shift must be an integer, got 'abc'" in res.stderr
    assert "Valid transforms" not in res.stderr
