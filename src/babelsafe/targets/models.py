"""Loaded in-process models (llama.cpp, transformers, vLLM), shared by every target instance with the
same load options: loaded once per process, reference counted, freed by the last user. One cache for
every local backend, so `MODELS.loads` counts every model load of the process (tests and benchmarks
read it)."""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Any] = {}
        self._users: dict[Hashable, int] = {}
        self.loads = 0  # models loaded by this process

    def acquire(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model loaded for `key` (loading it with `load()` when absent); counts one more user.
        Loading happens under the cache's lock, so two callers never load the same model twice."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = load()
                self._entries[key] = entry
                self._users[key] = 0
                self.loads += 1
            self._users[key] += 1
            return entry

    def release(self, key: Hashable, entry: Any, free: Callable[[Any], None] | None = None) -> None:
        """One user fewer; the last one removes the model (and calls `free(entry)` to close it)."""
        with self._lock:
            if self._entries.get(key) is not entry:
                return
            self._users[key] -= 1
            if self._users[key] > 0:
                return
            del self._entries[key], self._users[key]
            if free is not None:
                free(entry)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries


MODELS = ModelCache()
