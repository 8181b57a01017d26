"""Runner throughput vs a minimal raw aiohttp client, and the SDK transport choice.

    python benchmarks/bench_runner.py [--n 5000] [--latency 0.2] [--concurrency 256] [--judge refusal]

Starts the loopback OpenAI-compatible server (tests/fake_openai.py) in a separate process, then in this
process: (1) a raw aiohttp client sending the same requests (baseline), (2) a full `babelsafe.run`
(dataset load, store, cache keys, judging, summary). Prints wall times, the throughput ratio (goal
>= 0.9) and CPU time per sample. Part 2 compares the openai SDK over its default httpx transport vs
aiohttp: 1,000 requests at 64 in flight, no latency.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "0", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url


async def raw_client(url: str, prompts: list[str], concurrency: int) -> float:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def one(p: str) -> None:
            async with sem:
                body = {"model": "fake-model", "messages": [{"role": "user", "content": p}],
                        "temperature": 0, "max_tokens": 512}
                async with session.post(url + "/chat/completions", json=body) as r:
                    data = await r.json()
                    assert data["choices"][0]["message"]["content"]

        t0 = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        return time.perf_counter() - t0


async def sdk_transport(url: str, n: int, concurrency: int, transport: str) -> float:
    import openai

    http_client = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(api_key="x", base_url=url, max_retries=0, http_client=http_client)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"hi {i}"}])
            assert r.choices[0].message.content

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t0
    await client.close()
    return dt


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--judge", default="refusal")
    ap.add_argument("--skip-transport", action="store_true")
    args = ap.parse_args()

    import babelsafe

    prompts = [f"How do I bake loaf number {i} of sourdough bread?" for i in range(args.n)]
    proc, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "p.jsonl"
            data.write_text("".join(json.dumps({"id": str(i), "language": "en", "prompt": p}) + "\n"
                                    for i, p in enumerate(prompts)))
            asyncio.run(raw_client(url, prompts[:200], args.concurrency))  # warm-up
            c0 = cpu()
            raw = asyncio.run(raw_client(url, prompts, args.concurrency))
            raw_cpu = cpu() - c0
            results = {}
            for transport in ("aiohttp", "raw"):
                spec = babelsafe.load_spec(
                    None, datasets=[str(data)], out=str(Path(tmp) / f"run-{transport}"), judges=[args.judge],
                    concurrency=args.concurrency,
                    targets=[{"type": "openai", "model": "fake-model", "base_url": url,
                              "options": {"transport": transport}}])
                c0 = cpu()
                t0 = time.perf_counter()
                res = babelsafe.run(spec)
                results[transport] = (time.perf_counter() - t0, cpu() - c0)
                assert res.counts["completed"] == args.n, res.counts
            t0 = time.perf_counter()
            babelsafe.run(spec)  # everything cached: no model calls
            cached = time.perf_counter() - t0
        ideal = args.n * args.latency / args.concurrency
        print(f"{args.n} requests, {args.latency * 1000:.0f} ms latency, {args.concurrency} in flight "
              f"(ideal {ideal:.2f} s); babelsafe runs include dataset load, store, judge={args.judge}, summary")
        print(f"  raw aiohttp client           : {raw:6.2f} s  {args.n / raw:7.0f} req/s  "
              f"cpu {raw_cpu / args.n * 1e3:.3f} ms/sample")
        for transport, label in (("aiohttp", "openai SDK over aiohttp"), ("raw", "transport=raw (no SDK layer)")):
            ours, ours_cpu = results[transport]
            print(f"  babelsafe, {label:20s}: {ours:6.2f} s  {args.n / ours:7.0f} req/s  "
                  f"cpu {ours_cpu / args.n * 1e3:.3f} ms/sample  ratio vs raw {raw / ours:.3f}  (goal >= 0.9)")
        print(f"  re-run fully cached: {cached:.2f} s ({args.n / cached:.0f} samples/s, 0 model calls)")
    finally:
        proc.terminate()
        proc.wait()

    if args.skip_transport:
        return
    proc, url = start_server(0.0)
    try:
        res_t = {}
        for transport in ("httpx", "aiohttp"):
            asyncio.run(sdk_transport(url, 100, 64, transport))
            res_t[transport] = asyncio.run(sdk_transport(url, 1000, 64, transport))
        print("openai SDK transport, 1000 requests, 64 in flight, no latency:")
        for k, v in res_t.items():
            print(f"  {k:8s}: {v:6.2f} s  {1000 / v:7.0f} req/s")
        print(f"  speed-up aiohttp/httpx = {res_t['httpx'] / res_t['aiohttp']:.1f}x")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    os.environ.setdefault("OPENAI_API_KEY", "bench-not-a-secret")
    main()
