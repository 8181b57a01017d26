"""babelsafe: measure, attack and defend LLM safety across languages.

    import babelsafe
    result = babelsafe.run(babelsafe.RunSpec(languages=["en", "bn"], limit=5))
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["RunSpec", "run", "resume", "load_spec", "report", "compare", "calibrate", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: keep `import babelsafe` cheap
    if name in ("run", "resume", "plan", "RunResult", "spec_of_run"):
        from . import api
        return getattr(api, name)
    if name == "report":  # a callable package: babelsafe.report(run_dir)
        import importlib
        return importlib.import_module(f".{name}", __name__)
    if name == "compare":  # babelsafe.compare(run_a, run_b)
        from .metrics.compare import compare
        return compare
    if name == "calibrate":
        from .judges.calibrate import calibrate
        return calibrate
    if name in ("RunSpec", "load_spec"):
        from . import spec
        return getattr(spec, name)
    raise AttributeError(name)
