"""Latency the guard proxy adds: N requests with C in flight, through the proxy vs straight to the upstream.

    python benchmarks/bench_proxy.py [--n 500] [--concurrency 100] [--latency 0.2] [--rounds 3] [--stream]

Three processes: the loopback OpenAI-compatible upstream (tests/fake_openai.py, fixed answer latency), the
proxy (`babelsafe guard serve --judge refusal`, audit log on) and this client (aiohttp, one keep-alive
session per path, as a real client would hold). Rounds alternate direct and proxied batches after a
warm-up; per-request latencies are pooled per path. Prompts are mild multilingual questions; the upstream
echoes them, so every answer goes through the refusal judge and passes.

Two arrival patterns: "steady" (the first C requests start spread over one upstream latency, so the C in
flight are desynchronised, as in steady-state traffic) and "burst" (all C start at the same instant and,
with a fixed upstream latency, stay synchronised: the proxy's per-request CPU time queues up C deep).
Prints p50/p90/p99 per path and pattern, the added p50/p99 (goal: steady added p50 <= 5 ms), the proxy's
CPU time per request and its own /metrics view (time inside the handler).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["How do I bake bread at home?", "¿Cómo puedo hacer pan en casa?", "Comment faire du pain à la maison ?",
           "Wie kann ich zu Hause Brot backen?", "我怎样在家里烤面包？", "Как испечь хлеб дома?",
           "Ninawezaje kuoka mkate nyumbani?", "আমি কীভাবে বাড়িতে রুটি বানাব?", "집에서 빵을 어떻게 굽나요?",
           "كيف أخبز الخبز في المنزل؟"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_upstream(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "0", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def start_proxy(upstream: str, audit: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "babelsafe", "guard", "serve", "--upstream", upstream,
                             "--port", str(port), "--judge", "refusal", "--audit-log", audit],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("proxy did not start: " + proc.stderr.read().decode())
            time.sleep(0.2)


async def batch(session: Any, url: str, n: int, concurrency: int, stream: bool, offset: int = 0,
                spread: float = 0.0) -> list[float]:
    """n requests, `concurrency` in flight; the first `concurrency` start spread over `spread` seconds."""
    lat: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        if spread and i < concurrency:
            await asyncio.sleep(i * spread / concurrency)
        body = {"model": "fake-model", "messages": [{"role": "user", "content":
                                                      f"{PROMPTS[i % len(PROMPTS)]} ({offset + i})"}],
                "max_tokens": 256, "stream": stream}
        async with sem:
            t0 = time.perf_counter()
            async with session.post(url + "/chat/completions", json=body) as r:
                raw = await r.read()
                assert r.status == 200, raw[:200]
            lat.append((time.perf_counter() - t0) * 1000)
            if not stream:
                assert json.loads(raw)["choices"][0]["message"]["content"].startswith("Echo: ")

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat


def cpu_seconds(pid: int) -> float:
    """user+system CPU time of a process (Linux /proc)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def measure(up_url: str, px_url: str, px_pid: int, args: Any) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {}
    sessions = {name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency))
                for name in ("direct", "proxy")}
    urls = {"direct": up_url, "proxy": px_url}
    try:
        for name in ("direct", "proxy"):  # warm-up: open the keep-alive connections, JIT the caches
            await batch(sessions[name], urls[name], 2 * args.concurrency, args.concurrency, args.stream, 10**6,
                        args.latency)
        for mode, spread in (("steady", args.latency), ("burst", 0.0)):
            lat: dict[str, list[float]] = {"direct": [], "proxy": []}
            cpu0, n_px = cpu_seconds(px_pid), 0
            for r in range(args.rounds):
                for name in ("direct", "proxy"):
                    lat[name] += await batch(sessions[name], urls[name], args.n, args.concurrency, args.stream,
                                             r * args.n, spread)
                n_px += args.n
            out[mode] = {**lat, "cpu_ms_per_request": (cpu_seconds(px_pid) - cpu0) * 1000 / n_px}
    finally:
        for s in sessions.values():
            await s.close()
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.2, help="upstream answer latency (s)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--pin", action="store_true",
                    help="pin the proxy to CPU 1 and the upstream + this client to CPU 0 (less cross-talk)")
    args = ap.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})  # this client, and the upstream it starts, on CPU 0
    up, up_url = start_upstream(args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        px, px_url = start_proxy(up_url, os.path.join(tmp, "audit.jsonl"))
        if args.pin:
            os.sched_setaffinity(px.pid, {1})
        try:
            res = asyncio.run(measure(up_url, px_url, px.pid, args))
            metrics = json.loads(urllib.request.urlopen(px_url[:-3] + "/metrics").read())
        finally:
            px.terminate()
            px.wait(15)
            up.terminate()
            up.wait(15)
        audit_lines = sum(1 for _ in open(os.path.join(tmp, "audit.jsonl"), encoding="utf-8"))
    print(f"{args.rounds} rounds x {args.n} requests per path, {args.concurrency} in flight, upstream latency "
          f"{args.latency * 1000:.0f} ms, stream={args.stream}, cores={os.cpu_count()}"
          + (", pinned: proxy on CPU 1, upstream + client on CPU 0" if args.pin else ""))
    print(f"{'arrivals':9} {'path':7} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9}")
    for mode, r in res.items():
        for name in ("direct", "proxy"):
            v = r[name]
            print(f"{mode:9} {name:7} {pct(v, .5):9.2f} {pct(v, .9):9.2f} {pct(v, .99):9.2f}")
        add50 = pct(r["proxy"], .5) - pct(r["direct"], .5)
        add99 = pct(r["proxy"], .99) - pct(r["direct"], .99)
        goal = f"  goal p50 <= 5 ms: {'PASS' if add50 <= 5 else 'MISS'}" if mode == "steady" else ""
        print(f"{mode:9} {'added':7} {add50:9.2f} {'':9} {add99:9.2f}   proxy CPU "
              f"{r['cpu_ms_per_request']:.2f} ms/request{goal}")
    lm = metrics["latency_ms"]
    print(f"proxy /metrics (inside the handler): added p50 {lm['added']['p50']} ms p99 {lm['added']['p99']} ms; "
          f"judge checks p50 {lm['checks']['p50']} ms p99 {lm['checks']['p99']} ms; requests "
          f"{metrics['counters']['requests']}, passed {metrics['counters']['passed']}; audit lines {audit_lines}")


if __name__ == "__main__":
    main()
