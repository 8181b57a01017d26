"""babelsafe: measure, attack and defend LLM safety across languages.

    import babelsafe
    result = babelsafe.run(babelsafe.RunSpec(languages=["en", "bn"], limit=5))
    babelsafe.report(result.run_dir).path

Every verb of the CLI is a function of babelsafe.api, re-exported here (imported on first use, so
`import babelsafe` stays cheap).
"""
from __future__ import annotations

from typing import Any

from . import _accel

_accel.install()  # the refusal judge's compiled modules, or their sources (see _accel)

__version__ = "0.1.0"

_API = ("run", "resume", "plan", "report", "compare", "calibrate", "guard", "guard_app", "guard_config",
        "defend_export", "defend_scan", "components", "show", "Report", "spec_of_run", "resolve_spec")
__all__ = ["RunSpec", "load_spec", "RunResult", *_API, "__version__"]


def __getattr__(name: str) -> Any:  # lazy: keep `import babelsafe` cheap
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "RunResult":
        from .engine import RunResult
        return RunResult
    if name in ("RunSpec", "load_spec"):
        from . import spec
        return getattr(spec, name)
    raise AttributeError(name)
