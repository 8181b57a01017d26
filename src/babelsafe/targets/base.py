"""The Target protocol: anything that turns chat messages into a Generation."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..types import GenParams, Generation, Message


class ProviderError(Exception):
    """A failed call to a model. The runner retries when `retryable` and stores it as an error outcome.

    kind: rate_limit | server | timeout | connection | bad_response | client | content_filter
    """

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def sampling_kwargs(params: GenParams, target_seed: int | None, extra_keys: frozenset[str],
                    default_seed: int = 0) -> dict[str, Any]:
    """Sampling arguments for an in-process backend: temperature, max_tokens, seed (the call's, else the
    target's, else `default_seed`, so outputs stay reproducible), top_p, stop, and those `extra_body`
    entries the backend understands (`extra_keys`)."""
    seed = params.seed if params.seed is not None else (target_seed if target_seed is not None else default_seed)
    kw: dict[str, Any] = {"temperature": float(params.temperature), "max_tokens": int(params.max_tokens),
                          "seed": int(seed)}
    if params.top_p is not None:
        kw["top_p"] = float(params.top_p)
    if params.stop:
        kw["stop"] = list(params.stop)
    kw.update({k: v for k, v in (params.extra_body or {}).items() if k in extra_keys})
    return kw


@runtime_checkable
class Target(Protocol):
    """A model under test (or used as translator / judge).

    `identity()` returns everything that makes two calls interchangeable (model, endpoint, weights file...)
    and never a secret; it is part of every cache key. `generate` raises ProviderError on failure.
    Optional capability, declared by the flag `batched`: when True the target has
    `generate_batch(list_of_messages, params) -> list[Generation]`. Other optional members:
    `max_concurrency: int` (an upper bound the runner respects, e.g. 1 for in-process CPU models),
    `preflight()`, `load()` and `aclose()`.
    """

    name: str
    batched: bool

    def identity(self) -> dict[str, Any]: ...

    async def generate(self, messages: list[Message], params: GenParams) -> Generation: ...
