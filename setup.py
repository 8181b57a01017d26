"""Build hook: compile the refusal judge's hot modules with mypyc, and its C text scans, when possible
(both optional).

Everything else is in pyproject.toml. Without mypy or a C compiler, or with BABELSAFE_NO_COMPILE=1,
the package installs as pure Python with identical verdicts (babelsafe/_accel.py says which path is
active and lists the modules; babelsafe/judges/textscan.py, for the C scans in _textscan.c, which need
zlib's headers too).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
ACCEL = ROOT / "src" / "babelsafe" / "_accel.py"
MANIFEST = ROOT / "src" / "babelsafe" / "_accel_manifest.json"
TEXTSCAN = "babelsafe.judges._textscan"
TEXTSCAN_C = Path("src", "babelsafe", "judges", "_textscan.c")


def _modules() -> tuple[str, ...]:
    """_accel.MODULES, read without importing the package (its dependencies are not installed yet)."""
    for node in ast.parse(ACCEL.read_text("utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MODULES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("babelsafe/_accel.py has no MODULES")


class OptionalBuildExt(build_ext):
    """build_ext that warns and goes on when compiling fails: the pure-Python package still works."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, missing headers ...
            self._skip(e)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as e:
            if ext.name == TEXTSCAN:  # the mypyc modules do not need it: they call its Python versions
                print(f"WARNING: babelsafe's C text scans were not built ({type(e).__name__}: {e}); "
                      "the refusal judge uses their Python versions (same verdicts, slower).")
                return
            self._skip(e)

    warned = False

    def _skip(self, e: Exception) -> None:
        MANIFEST.unlink(missing_ok=True)
        if OptionalBuildExt.warned:  # one line, not one per module
            return
        OptionalBuildExt.warned = True
        print(f"WARNING: babelsafe's compiled accelerator was not built ({type(e).__name__}: {e}); "
              "the refusal judge runs as pure Python (same verdicts, slower).")


def _textscan() -> list:
    """The C text scans (babelsafe/judges/textscan.py): their source's hash is compiled in, so an
    edited source is not run from an older build."""
    sha = hashlib.sha256((ROOT / TEXTSCAN_C).read_bytes()).hexdigest()
    return [Extension(TEXTSCAN, [str(TEXTSCAN_C)], libraries=["z", "m"],
                      define_macros=[("BABELSAFE_TEXTSCAN_SHA256", f'"{sha}"')])]


def _ext_modules() -> list:
    if os.environ.get("BABELSAFE_NO_COMPILE", "") not in ("", "0"):
        return []
    return _mypyc_modules() + _textscan()


def _mypyc_modules() -> list:
    modules = _modules()
    paths = [str(Path("src", *m.split(".")).with_suffix(".py")) for m in modules]
    try:
        from mypyc.build import mypycify

        exts = mypycify(["--ignore-missing-imports", "--follow-imports=skip",
                         "--disable-error-code", "import-untyped", *paths],
                        opt_level="3")
    except BaseException as e:  # mypy missing, or a type error mypyc cannot compile (it exits)
        MANIFEST.unlink(missing_ok=True)
        print(f"WARNING: babelsafe's compiled accelerator is skipped ({type(e).__name__}: {e}); "
              "the refusal judge runs as pure Python (same verdicts, slower).")
        return []
    # what was compiled: a source edited later no longer matches, and _accel then loads the sources
    sources = {m: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for m, p in zip(modules, paths)}
    MANIFEST.write_text(json.dumps({"sources": sources}, indent=1) + "\n", "utf-8")
    return exts


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
