"""The import graph the reshaping promised: the scheduler and the defense package do not import each
other at module level; the vLLM backend does not pull in the transformers backend; one model cache."""
from __future__ import annotations

import subprocess
import sys


def _imported_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_scheduler_does_not_import_defense_and_back():
    assert not any(m.startswith("babelsafe.defense") for m in _imported_after("import babelsafe.engine.scheduler"))
    for mod in ("babelsafe.defense.export", "babelsafe.defense.screen", "babelsafe.defense.layers"):
        assert "babelsafe.engine.scheduler" not in _imported_after(f"import {mod}"), mod


def test_vllm_backend_does_not_import_the_transformers_backend():
    assert "babelsafe.targets.hf_transformers" not in _imported_after("import babelsafe.targets.vllm_offline")


def test_one_model_cache_for_every_local_backend():
    from babelsafe.targets import hf_transformers, llamacpp, vllm_offline
    from babelsafe.targets.models import MODELS

    for mod in (hf_transformers, llamacpp, vllm_offline):
        assert mod.MODELS is MODELS and not hasattr(mod, "LOAD_COUNT") and not hasattr(mod, "_MODELS")
