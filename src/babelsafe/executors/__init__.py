"""Where a run executes. `local` is the engine in this process (engine/scheduler.py); `ray` shards a run across Ray
actors that each run the same engine (executors/ray.py, docs/distributed.md). Chosen by `spec.executor`."""
