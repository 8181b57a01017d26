"""The optional compiled accelerator of the refusal judge: its hot modules built with mypyc.

`pip install` compiles MODULES with mypyc when it can (setup.py; mypy and a C compiler needed) and
installs the pure-Python package when it cannot: verdicts are identical either way (tests compare
the two), the compiled modules are only faster. `install()` runs when babelsafe is imported and loads
the .py sources instead of the compiled modules when

- BABELSAFE_PURE_PYTHON=1 is set (to test or debug the pure-Python path), or
- a source changed after the build (an editable checkout: the .py now says something the compiled
  module does not, so it wins; `pip install -e .` rebuilds).

All or none: mypyc calls between the compiled modules directly, so a mix would not be coherent.
`status()` says which path is active (`babelsafe show judge refusal`, the judge's log line).
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

# The modules compiled (setup.py reads this list).
# (Not refusal.py: the registry reads RefusalJudge's constructor signature and annotations, which a
# compiled class does not expose, and it takes options as given; its classify steps are
# refusal_verdict.py, compiled. Not babelsafe/text.py: the whole package uses it, and compiled, its
# classes check field types (text.Detection) and its functions call each other directly, past
# monkeypatching; compiling it saved ~2% of a verdict's instructions.)
MODULES = ("babelsafe.judges.answer_text", "babelsafe.judges.answer_language", "babelsafe.judges.lexicon_index",
           "babelsafe.judges.refusal_features", "babelsafe.judges.refusal_model",
           "babelsafe.judges.refusal_verdict", "babelsafe.judges.relevance", "babelsafe.judges.garble")
USERS = ("babelsafe.judges.refusal",)  # modules whose components run on MODULES (`babelsafe show` says)
ENV = "BABELSAFE_PURE_PYTHON"
MANIFEST = "_accel_manifest.json"  # written by setup.py beside this file: each module's source hash
_ROOT = Path(__file__).resolve().parent.parent  # the folder holding the babelsafe package

_status = "pure Python (not checked yet)"


def source_path(module: str) -> Path:
    return _ROOT.joinpath(*module.split(".")).with_suffix(".py")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds MODULES as their .py sources, ahead of the compiled extension modules beside them."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name in MODULES:
            return importlib.util.spec_from_file_location(name, source_path(name))
        return None


def _built() -> list[str]:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return [m for m in MODULES if source_path(m).with_suffix(suffix).exists()]


def _decide(built: list[str]) -> tuple[bool, str]:
    """(use the compiled modules, why)."""
    if not built:
        return False, "pure Python (accelerator not built: no C compiler or mypy at install time)"
    if os.environ.get(ENV, "") not in ("", "0"):
        return False, f"pure Python ({ENV} is set)"
    try:
        manifest = json.loads((_ROOT / "babelsafe" / MANIFEST).read_text("utf-8"))["sources"]
    except (OSError, ValueError, KeyError):
        return False, "pure Python (accelerator manifest missing: reinstall babelsafe to rebuild it)"
    if len(built) != len(MODULES):
        return False, "pure Python (accelerator partly built: reinstall babelsafe to rebuild it)"
    for m in MODULES:
        if not source_path(m).exists() or manifest.get(m) != source_hash(source_path(m)):
            return False, (f"pure Python ({m} changed since the accelerator was built: "
                           "`pip install -e .` rebuilds it)")
    return True, "compiled (mypyc)"


def install() -> None:
    """Choose the path once per process, before any of MODULES is imported."""
    global _status
    if any(m in sys.modules for m in MODULES):
        return  # already imported (e.g. a re-import of babelsafe): the choice is made
    built = _built()
    try:
        use, _status = _decide(built)
    except OSError as e:  # an unreadable source: the import will say what is wrong
        use, _status = False, f"pure Python ({e})"
    # nothing compiled: the ordinary import finds the sources, no finder needed
    if built and not use and not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())


def status() -> str:
    """Which path the refusal judge runs: 'compiled (mypyc)' or 'pure Python (why)'."""
    mod = sys.modules.get("babelsafe.judges.lexicon_index")
    if mod is not None and not (mod.__file__ or "").endswith(".py"):
        return "compiled (mypyc)"
    return _status
