"""Reports: a self-contained report.html (inline SVG charts, no network), results.csv/.parquet exports.

The package is callable, so `babelsafe.report(run_dir)` works whether `babelsafe.report` resolves to
this package (after any `import babelsafe.report...`) or to the API function:

    import babelsafe
    path = babelsafe.report("runs/first", compare="runs/second")
"""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any


def report(run_dir: str | Path, compare: str | Path | None = None, max_examples: int = 2000, **kw: Any) -> Path:
    """Recompute summary.json from the store and write report.html, results.csv and results.parquet;
    `compare`: a second run dir whose paired comparison is added. Returns the report's path."""
    from .html import write_report

    return write_report(run_dir, compare_with=compare, recompute=True, max_examples=max_examples, **kw)


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
