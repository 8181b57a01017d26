"""CPU per sample of the Ray work queue's transport: Ray's own serialisation of Sample objects (what the
queue used before) vs plain pickle bytes of the samples' fields (`executors.queue.pack`), measured in
one process on real dataset samples (multijail + xsafety), in alternating rounds.

    python benchmarks/bench_ray_queue.py [--rounds 5] [--want 128] [--limit 400]

fill: the driver sends every sample to a new queue actor (driver CPU + the actor's CPU to take them in).
drain: a worker takes them all in chunks of --want (the actor's CPU + the taker's, unpacking included).
Each figure is the median over rounds of (CPU of every process involved) / samples; the actor's CPU is
read with time.process_time() inside it (all its threads, Ray's own included). Starts a private local
Ray cluster on 127.0.0.1. Needs Ray (pip install 'babelsafe[ray]'). Prints the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import ray

from babelsafe.engine import load_samples
from babelsafe.executors.queue import SampleQueue, pack, unpack
from babelsafe.spec import load_spec


class TimedQueue(SampleQueue):
    """The queue with a clock on its own process's CPU, filled by a call (the same transport as the
    constructor's arguments, but timed after the actor's start-up)."""

    def cpu(self) -> float:
        return time.process_time()

    def fill(self, shared: object) -> int:
        self.__init__(shared, {}, 1)  # type: ignore[misc]
        return self.remaining()


def fill(q: object, samples: list, packed: bool) -> float:
    """CPU seconds (driver + actor) to send `samples` to the queue actor `q`."""
    a0 = ray.get(q.cpu.remote())
    t0 = time.process_time()
    n = ray.get(q.fill.remote(pack(samples) if packed else samples))
    driver = time.process_time() - t0
    assert n == len(samples)
    return driver + ray.get(q.cpu.remote()) - a0


def drain(q: object, want: int, packed: bool) -> tuple[float, int]:
    """CPU seconds (driver + actor) to take every sample out of `q` in chunks of `want`."""
    a0 = ray.get(q.cpu.remote())
    t0 = time.process_time()
    got = 0
    while True:
        chunk = unpack(ray.get(q.take_packed.remote(0, want))) if packed else ray.get(q.take.remote(0, want))
        if not chunk:
            break
        got += len(chunk)
    driver = time.process_time() - t0
    return driver + ray.get(q.cpu.remote()) - a0, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--want", type=int, default=128, help="chunk size a worker asks for (its free slots)")
    ap.add_argument("--limit", type=int, default=400, help="prompts per language and dataset")
    args = ap.parse_args()
    spec = load_spec(None, datasets=["multijail", "xsafety"], languages="en,zh,ar,bn,sw,it,ko,th",
                     limit=args.limit)
    samples = list(load_samples(spec, {}))
    n = len(samples)
    ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    print(f"{n} samples, chunks of {args.want}; load {os.getloadavg()}")
    res: dict[str, list[float]] = {k: [] for k in ("fill ray", "fill pack", "drain ray", "drain pack")}
    q = ray.remote(TimedQueue).options(num_cpus=0).remote([], {}, 1)
    for r in range(args.rounds):
        for packed in ((False, True) if r % 2 == 0 else (True, False)):
            name = "pack" if packed else "ray"
            res[f"fill {name}"].append(fill(q, samples, packed))
            cpu, got = drain(q, args.want, packed)
            assert got == n
            res[f"drain {name}"].append(cpu)
    for k, v in res.items():
        per = [x / n * 1e6 for x in v]
        print(f"{k:11s} {statistics.median(per):7.1f} us/sample  (rounds: {', '.join(f'{p:.1f}' for p in per)})")
    for part in ("fill", "drain"):
        ratio = statistics.median(res[f"{part} pack"]) / statistics.median(res[f"{part} ray"])
        print(f"{part}: pack / ray = {ratio:.2f}")
    print(f"load {os.getloadavg()}")
    ray.shutdown()


if __name__ == "__main__":
    main()
