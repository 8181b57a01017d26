"""The shared model cache: loaded once per key, reference counted, freed by the last user."""
from __future__ import annotations

import threading

from babelsafe.targets.models import ModelCache


def test_load_once_share_and_free_on_last_release():
    cache = ModelCache()
    loads, freed = [], []

    def load():
        loads.append(1)
        return object()

    a = cache.acquire(("x", 1), load)
    b = cache.acquire(("x", 1), load)
    assert a is b and cache.loads == 1 and len(loads) == 1
    cache.release(("x", 1), a, freed.append)
    assert ("x", 1) in cache and not freed
    cache.release(("x", 1), b, freed.append)
    assert ("x", 1) not in cache and freed == [a]
    c = cache.acquire(("x", 1), load)  # loaded again after being freed
    assert c is not a and cache.loads == 2


def test_concurrent_acquire_loads_once():
    cache = ModelCache()
    got = []

    def load():
        return object()

    threads = [threading.Thread(target=lambda: got.append(cache.acquire("k", load))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.loads == 1 and len({id(x) for x in got}) == 1


def test_a_failed_load_is_not_kept():
    cache = ModelCache()

    def bad():
        raise RuntimeError("no such file")

    try:
        cache.acquire("k", bad)
    except RuntimeError:
        pass
    assert "k" not in cache and cache.loads == 0
    assert cache.acquire("k", object) is not None and cache.loads == 1
