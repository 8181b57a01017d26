"""Start-up: a command imports only what it needs. `--help` needs neither the API, the spec's pydantic
models nor rich; `list` needs neither the engine nor numpy/pyarrow/HTTP clients; and what they print
is unchanged (every registered component is still listed: tests/cli/test_cli_terminal.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# run the CLI in a fresh interpreter and report which of these modules it imported
PROBE = """
import contextlib, io, json, sys
sys.argv = ["babelsafe", *json.loads(sys.argv[1])]
from babelsafe.cli import main
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as e:
    code = e.code or 0
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

NEVER_FOR_HELP = ["babelsafe.api", "babelsafe.spec", "babelsafe.engine", "babelsafe.registry", "rich", "yaml",
                  "numpy", "pyarrow", "aiohttp", "openai"]
NEVER_FOR_LIST = ["babelsafe.engine", "babelsafe.agents.loop", "babelsafe.results", "numpy", "pyarrow",
                  "aiohttp", "openai", "torch", "transformers", "llama_cpp"]


def run_cli(*args: str) -> dict:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["list", "--help"], ["report", "--help"]])
def test_help_imports_neither_the_api_nor_rich(args):
    got = run_cli(*args)
    assert got["code"] == 0
    loaded = [m for m in NEVER_FOR_HELP if m in got["modules"]]
    assert not loaded, f"`babelsafe {' '.join(args)}` imported {loaded}"
    assert "Usage: babelsafe" in got["out"]
    if args == ["--help"]:  # every command is still registered
        for verb in ("run", "resume", "report", "compare", "calibrate", "list", "show", "generate", "guard",
                     "defend", "whitebox"):
            assert f" {verb} " in got["out"] or f" {verb}\n" in got["out"], verb
    if args == ["run", "--help"]:
        assert "--executor" in got["out"] and "--judge" in got["out"]


@pytest.mark.parametrize("kind", ["datasets", "transforms", "targets", "judges", "defenses"])
def test_list_loads_no_engine_and_no_heavy_libraries(kind):
    from babelsafe.registry import registry

    got = run_cli("list", kind, "--json")
    assert got["code"] == 0
    loaded = [m for m in NEVER_FOR_LIST if m in got["modules"]]
    assert not loaded, f"`babelsafe list {kind}` imported {loaded}"
    rows = json.loads(got["out"])
    assert sorted(r["name"] for r in rows) == registry(kind[:-1]).names()
    assert all("unavailable" not in r.get("description", "") for r in rows)


def test_api_loads_the_spec_on_first_use():
    code = ("import sys, babelsafe.api as api; before = 'babelsafe.spec' in sys.modules; "
            "from babelsafe.api import RunSpec; import babelsafe.spec as s; "
            "print(before, RunSpec is s.RunSpec, api.load_spec is s.load_spec, api.resolve_spec is s.resolve_spec)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["False", "True", "True", "True"], res.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import babelsafe.api

        babelsafe.api.nope  # noqa: B018


def test_a_usage_error_still_prints_through_the_lazy_console():
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    res = subprocess.run([sys.executable, "-m", "babelsafe", "list", "widgets"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 2 and "error:" in res.stderr and "datasets" in res.stderr
