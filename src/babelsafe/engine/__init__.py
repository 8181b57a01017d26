"""The engine: the one model caller (caller.py) and the scheduler that runs a spec (scheduler.py).

    caller.py     ModelCaller (cache, in-flight sharing, concurrency, RPM/TPM, retries, timeouts);
                  RunCaller (a run's: answers in the store), LocalContext (outside runs: in memory)
    limits.py     RateLimiter, token estimates
    samples.py    samples from the datasets, the first probe, system prompts, the dry-run plan
    adaptive.py   MultiJail's adaptive attack as a scheduling strategy
    scheduler.py  Runner: samples x chains x targets -> generations -> verdicts -> store -> summary
"""
from __future__ import annotations

from typing import Any

from .caller import LocalContext, MemoryCache, ModelCaller, RunCaller, StoreCache, TargetSlot
from .limits import RateLimiter, estimate_tokens

__all__ = ["ModelCaller", "RunCaller", "LocalContext", "MemoryCache", "StoreCache", "TargetSlot", "RateLimiter",
           "estimate_tokens", "initial_probe", "load_samples", "plan", "with_system", "Progress", "RunResult",
           "Runner", "finalize"]

_LAZY = {"initial_probe": "samples", "load_samples": "samples", "plan": "samples", "with_system": "samples",
         "Progress": "scheduler", "RunResult": "scheduler", "Runner": "scheduler", "finalize": "scheduler"}


def __getattr__(name: str) -> Any:  # the scheduler (datasets, transforms, store) loads only when used
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
