"""The Ray executor's work queue: the samples, handed out in chunks to the worker slots (SampleQueue runs
as one Ray actor), packed as plain pickle bytes on the wire, and what a slot's store says it took."""
from __future__ import annotations

import math
import pickle
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from ..types import Sample


def pack(samples: list[Sample]) -> bytes:
    """Samples as plain pickle bytes of their fields, how they cross between Ray processes: Ray moves
    bytes for nearly nothing, and its own serialisation of Sample objects (cloudpickle) cost the queue
    and the worker 1.4-1.8x the CPU per sample (benchmarks/bench_ray_queue.py). A value plain pickle
    cannot take (a plugin's odd meta) goes through cloudpickle, whose output pickle.loads reads."""
    rows = [(s.dataset, s.id, s.language, s.prompt, s.category, s.meta, s.images, s._key) for s in samples]
    try:
        return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        from ray import cloudpickle

        return cloudpickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> list[Sample]:
    """The samples `pack` made (the cached key travels with them)."""
    out = []
    for *fields, key in pickle.loads(data):
        s = Sample(*fields)
        s._key = key
        out.append(s)
    return out


class SampleQueue:
    """The run's work queue (one Ray actor): the samples themselves, handed out in chunks to the slots.

    `affinity[k]`: samples slot k's store already has (resume, a replaced worker): only slot k runs them,
    so their finished calls are cache hits. `shared`: the rest, taken by whichever worker asks first.
    Both may come as `pack`ed bytes (how the driver sends them). The samples travel with the chunks
    (`take_packed`), so a worker neither reads nor parses the datasets (it needs no copy of them) and
    the cluster holds each sample once, here, not once per worker."""

    def __init__(self, shared: list[Sample] | bytes, affinity: dict[int, list[Sample] | bytes], workers: int):
        def samples(v: list[Sample] | bytes) -> list[Sample]:
            return unpack(v) if isinstance(v, bytes) else v

        self.shared = deque(samples(shared))
        self.affinity = {k: deque(samples(v)) for k, v in affinity.items()}
        self.workers = max(1, workers)
        self.held: dict[int, list[Sample]] = {}  # slot -> every sample handed to its current worker

    def take(self, slot: int, want: int) -> list[Sample]:
        """Up to `want` samples for `slot`: its own first, then a chunk of the shared queue that shrinks
        as the queue empties (ceil(remaining / 2 workers)), so the last chunks are small."""
        want = max(1, want)
        mine = self.affinity.get(slot)
        if mine:
            out = [mine.popleft() for _ in range(min(want, len(mine)))]
        else:
            n = min(want, max(1, math.ceil(len(self.shared) / (2 * self.workers))), len(self.shared))
            out = [self.shared.popleft() for _ in range(n)]
        self.held.setdefault(slot, []).extend(out)
        return out

    def take_packed(self, slot: int, want: int) -> bytes:
        """`take`, packed for the wire (what a worker calls; see `pack`)."""
        return pack(self.take(slot, want))

    def requeue(self, slot: int, stored: list[str]) -> int:
        """The worker of `slot` died: what it had taken goes back, the samples its store has (keys in
        `stored`) to the slot (its replacement resumes them), the others to the front of the shared
        queue. Returns how many went to the shared queue."""
        have = set(stored)
        held = self.held.pop(slot, [])
        back = [s for s in held if s.key in have]
        free = [s for s in held if s.key not in have]
        self.affinity.setdefault(slot, deque()).extendleft(reversed(back))
        self.shared.extendleft(reversed(free))
        return len(free)

    def remaining(self) -> int:
        return len(self.shared) + sum(len(v) for v in self.affinity.values())


class QueueSource:
    """A worker's side of the queue: the Runner's `sample_source` (picklable: the actor handle, the slot
    and the datasets' taxonomies, which the driver learnt while loading the samples)."""

    def __init__(self, queue: Any, slot: int, taxonomies: dict[str, str]):
        self.queue, self.slot, self.taxonomies = queue, slot, taxonomies

    async def take(self, want: int) -> list[Sample]:
        return unpack(await self.queue.take_packed.remote(self.slot, want))


def stored_samples(store: Path) -> list[str]:
    """The sample keys a slot store has (every sample its workers took); [] when there is no store."""
    if not store.is_file():
        return []
    from ..results.schema import connect

    con = connect(store)
    try:
        return [r[0] for r in con.execute("SELECT sample_key FROM samples")]
    except sqlite3.OperationalError:  # created but empty (the worker died before the schema)
        return []
    finally:
        con.close()
