"""The CLI end to end vs a minimal raw aiohttp client: what a user waits for, marginal method.

    python benchmarks/bench_e2e.py                      # 1,000 vs 4,000 samples, 3 repeats
    python benchmarks/bench_e2e.py --n1 1000 --n2 5000 --repeats 5 --transports default,raw,aiohttp
    python benchmarks/bench_e2e.py --profile py-spy     # + a py-spy profile of one babelsafe run
    python benchmarks/bench_e2e.py --judge xstest-strmatch   # a trivial judge: the cost of the rest

Starts the loopback OpenAI-compatible server (tests/fake_openai.py, 200 ms latency) in its own process,
writes a JSONL file of mild prompts in several languages (10% carry "[refuse]", answered with a refusal),
then for each repeat and each size N in (n1, n2), in interleaved order:
  - raw: a minimal aiohttp client (one session, a semaphore of `--concurrency`, post + parse JSON,
    keep the texts) run as its own process on the same event loop babelsafe picks (uvloop if installed);
  - babelsafe: `babelsafe run -d FILE --target openai ... --judge refusal -c 256 --out DIR` as a user
    types it, in a pseudo-terminal (so the progress bar renders as it does for a user), with report.html,
    results.csv and results.parquet (the default), once per `--transports` entry.
Wall time and user+sys CPU (the process and its children, from wait4) are taken per process. Marginal
figures remove start-up and the fixed end-of-run work: time(n2) - time(n1) over n2 - n1 extra samples.
Printed: marginal throughput ratio vs raw (goal >= 0.9) and CPU per sample (goal <= 0.5 ms), as ranges
over repeats (each repeat pairs the raw and babelsafe figures measured next to each other).

The machine may be shared: figures are noisy; use --repeats and compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Mild everyday questions (hand-written), several scripts; the echo server answers with the prompt.
PROMPTS = [
    ("en", "How do I bake a loaf of sourdough bread?"), ("en", "What is a good way to learn to swim?"),
    ("zh", "如何泡一杯好茶？"), ("zh", "学习一门新语言的好方法是什么？"),
    ("it", "Come si prepara un caffè espresso?"), ("it", "Quanto tempo ci vuole per imparare a nuotare?"),
    ("ar", "كيف أصنع كوبا من الشاي الأخضر؟"), ("bn", "আমি কীভাবে ভাত রান্না করব?"),
    ("sw", "Ninawezaje kupika wali mtamu?"), ("vi", "Làm thế nào để nấu phở?"),
    ("th", "ข้าวเหนียวมะม่วงทำอย่างไร"), ("ko", "김치는 어떻게 만드나요?"),
]

TRANSPORTS = {
    "default": [],  # what a user gets without options
    "raw": ["--option", "transport=raw"],
    "aiohttp": ["--option", "transport=aiohttp"],  # the openai SDK over aiohttp
    "sdk": ["--option", "transport=sdk"],
}


def write_prompts(path: Path, n: int, tag: str) -> None:
    """n distinct samples (no cache hits across sizes or repeats: `tag` is in every prompt)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            lang, text = PROMPTS[i % len(PROMPTS)]
            refuse = " [refuse]" if i % 10 == 3 else ""
            f.write(json.dumps({"id": f"{tag}-{i}", "language": lang, "prompt": f"{text} ({tag} #{i}){refuse}"},
                               ensure_ascii=False) + "\n")


def start_server(latency: float, cpus: str | None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, str(ROOT / "tests" / "fake_openai.py"), "0", str(latency)]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit("the fake OpenAI server did not start")
    return proc, url


def _drain(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        sink.append(chunk)
        del sink[:-64]  # keep only the tail


def timed(cmd: list[str], env: dict[str, str], tty: bool, cwd: str | None = None,
          ok_codes: tuple[int, ...] = (0,)) -> dict:
    """Run cmd to completion; wall seconds, user+sys CPU seconds (with its children), peak RSS MiB."""
    tail: list[bytes] = []
    t0 = time.perf_counter()
    if tty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        reader = threading.Thread(target=_drain, args=(master, tail), daemon=True)
        reader.start()
    else:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        reader = threading.Thread(target=_drain, args=(proc.stdout.fileno(), tail), daemon=True)
        reader.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    if tty:
        os.close(master)
    if proc.returncode not in ok_codes:
        out = b"".join(tail).decode("utf-8", "replace")[-3000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{out}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024,
            "out": b"".join(tail).decode("utf-8", "replace")}


# -- the raw client (run as its own process) -------------------------------------------------------
def raw_child(url: str, path: str, concurrency: int) -> None:
    import aiohttp

    prompts = [json.loads(line)["prompt"] for line in open(path, encoding="utf-8")]

    async def main() -> None:
        sem = asyncio.Semaphore(concurrency)
        texts: list[str] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def one(p: str) -> None:
                async with sem:
                    body = {"model": "fake-model", "messages": [{"role": "user", "content": p}],
                            "temperature": 0.0, "max_tokens": 512}
                    async with session.post(url + "/chat/completions", json=body) as r:
                        data = await r.json()
                        texts.append(data["choices"][0]["message"]["content"])

            await asyncio.gather(*(one(p) for p in prompts))
        assert len(texts) == len(prompts)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())


def babelsafe_cmd(url: str, data: Path, out: Path, concurrency: int, transport: str, report: bool,
                  judge: str = "refusal") -> list[str]:
    return ([sys.executable, "-m", "babelsafe", "run", "-d", str(data), "--target", "openai",
             "--model", "fake-model", "--base-url", url, "--judge", judge, "-c", str(concurrency),
             "--out", str(out)] + TRANSPORTS[transport] + ([] if report else ["--no-report"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n1", type=int, default=1000)
    ap.add_argument("--n2", type=int, default=4000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--transports", default="default,raw,aiohttp",
                    help=f"comma-separated, of: {', '.join(TRANSPORTS)}")
    ap.add_argument("--no-report", action="store_true", help="pass --no-report to babelsafe run")
    ap.add_argument("--judge", default="refusal",
                    help="the run's judge (default refusal, as the README runs it; xstest-strmatch, a string "
                         "match, shows what everything but the judge costs)")
    ap.add_argument("--no-tty", action="store_true", help="run the CLI with a pipe, not a pseudo-terminal")
    ap.add_argument("--server-cpus", help="taskset CPU list for the server (e.g. 1)")
    ap.add_argument("--client-cpus", help="taskset CPU list for the measured clients (e.g. 0)")
    ap.add_argument("--profile", choices=["py-spy", "cprofile"], help="profile one extra babelsafe n2 run")
    ap.add_argument("--profile-out", default="bench_e2e_profile", help="file stem for the profile")
    ap.add_argument("--json", help="write the raw measurements here")
    ap.add_argument("--raw-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.raw_child:
        raw_child(a.raw_child[0], a.raw_child[1], int(a.raw_child[2]))
        return
    transports = [t for t in a.transports.split(",") if t]
    for t in transports:
        if t not in TRANSPORTS:
            raise SystemExit(f"unknown transport {t}: use {', '.join(TRANSPORTS)}")
    env = dict(os.environ, OPENAI_API_KEY="bench-not-a-secret", PYTHONPATH=str(ROOT / "src"),
               COLUMNS="100", TERM=os.environ.get("TERM", "xterm"))
    pin = ["taskset", "-c", a.client_cpus] if a.client_cpus else []
    proc, url = start_server(a.latency, a.server_cpus)
    tmp = Path(tempfile.mkdtemp(prefix="babelsafe-e2e-"))
    rows: list[dict] = []
    try:
        # warm-up: imports in the page cache, the server's first connections
        write_prompts(tmp / "warm.jsonl", 300, "warm")
        timed(pin + [sys.executable, __file__, "--raw-child", url, str(tmp / "warm.jsonl"), str(a.concurrency)],
              env, False)
        timed(pin + babelsafe_cmd(url, tmp / "warm.jsonl", tmp / "warm-run", a.concurrency, transports[0],
                                  not a.no_report, a.judge), env, not a.no_tty)
        for rep in range(a.repeats):
            sizes = (a.n1, a.n2) if rep % 2 == 0 else (a.n2, a.n1)
            for n in sizes:
                tag = f"r{rep}n{n}"
                data = tmp / f"{tag}.jsonl"
                write_prompts(data, n, tag)
                order = ["raw"] + transports
                if rep % 2:
                    order.reverse()
                for who in order:
                    if who == "raw":
                        cmd = pin + [sys.executable, __file__, "--raw-child", url, str(data), str(a.concurrency)]
                        m = timed(cmd, env, False)
                    else:
                        out = tmp / f"{tag}-{who}"
                        m = timed(pin + babelsafe_cmd(url, data, out, a.concurrency, who, not a.no_report,
                                                      a.judge), env, not a.no_tty)
                        summary = json.loads((out / "summary.json").read_text())
                        c = summary.get("counts", {})
                        if c.get("completed") != n or c.get("errors"):
                            raise SystemExit(f"{who} n={n}: counts {c}")
                        shutil.rmtree(out)
                    m.pop("out")
                    rows.append({"repeat": rep, "n": n, "who": who, **m})
                    print(f"  repeat {rep} n={n:6d} {who:8s} wall {m['wall']:6.2f} s  cpu {m['cpu']:6.2f} s  "
                          f"rss {m['rss']:5.0f} MiB", flush=True)
        if a.profile:
            profile(a, url, env, tmp, transports[0], pin)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    report(a, rows, transports)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


def profile(a: argparse.Namespace, url: str, env: dict[str, str], tmp: Path, transport: str,
            pin: list[str]) -> None:
    data = tmp / "prof.jsonl"
    write_prompts(data, a.n2, "prof")
    cmd = babelsafe_cmd(url, data, tmp / "prof-run", a.concurrency, transport, not a.no_report, a.judge)
    if a.profile == "py-spy":
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = f"{a.profile_out}.txt"
        cmd = pin + [spy, "record", "--format", "raw", "--rate", "250", "--subprocesses", "-o", out, "--"] + cmd
    else:
        out = f"{a.profile_out}.pstats"
        cmd = pin + [sys.executable, "-m", "cProfile", "-o", out] + cmd[1:]
    timed(cmd, env, not a.no_tty)
    print(f"profile written to {out}")


def report(a: argparse.Namespace, rows: list[dict], transports: list[str]) -> None:
    extra = a.n2 - a.n1

    def marginal(who: str, rep: int) -> tuple[float, float]:
        r = {x["n"]: x for x in rows if x["who"] == who and x["repeat"] == rep}
        return r[a.n2]["wall"] - r[a.n1]["wall"], r[a.n2]["cpu"] - r[a.n1]["cpu"]

    reps = sorted({x["repeat"] for x in rows})
    ideal = extra * a.latency / a.concurrency
    print(f"\n{extra} extra samples ({a.n2} vs {a.n1}), {a.latency * 1000:.0f} ms latency, {a.concurrency} in "
          f"flight (ideal {ideal:.2f} s); {len(reps)} repeat(s); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs; babelsafe = the CLI with judge {a.judge}, store, summary"
          f"{'' if a.no_report else ', report.html, CSV, Parquet'}")

    def rng(xs: list[float], fmt: str) -> str:
        xs = sorted(xs)
        return f"{fmt.format(statistics.median(xs))} [{fmt.format(xs[0])}-{fmt.format(xs[-1])}]"

    raw = [marginal("raw", r) for r in reps]
    print(f"  {'transport':10s} {'marginal s':>22s} {'samples/s':>8s} {'ratio vs raw':>22s} "
          f"{'cpu ms/sample':>22s} {'peak RSS':>9s}")
    print(f"  {'raw client':10s} {rng([w for w, _ in raw], '{:.2f}'):>22s} "
          f"{extra / statistics.median([w for w, _ in raw]):8.0f} {'1':>22s} "
          f"{rng([c / extra * 1e3 for _, c in raw], '{:.3f}'):>22s} "
          f"{max(x['rss'] for x in rows if x['who'] == 'raw'):7.0f} M")
    for t in transports:
        m = [marginal(t, r) for r in reps]
        ratios = [rw / w for (rw, _), (w, _) in zip(raw, m)]
        print(f"  {t:10s} {rng([w for w, _ in m], '{:.2f}'):>22s} {extra / statistics.median([w for w, _ in m]):8.0f} "
              f"{rng(ratios, '{:.3f}'):>22s} {rng([c / extra * 1e3 for _, c in m], '{:.3f}'):>22s} "
              f"{max(x['rss'] for x in rows if x['who'] == t):7.0f} M")
    print("  goals: ratio >= 0.9, cpu <= 0.5 ms/sample (medians, [min-max] over repeats)")
    for t in transports:
        whole = [x for x in rows if x["who"] == t and x["n"] == a.n2]
        rawn = [x for x in rows if x["who"] == "raw" and x["n"] == a.n2]
        print(f"  whole {a.n2}-sample run, {t}: {statistics.median(x['wall'] for x in whole):.2f} s "
              f"(raw {statistics.median(x['wall'] for x in rawn):.2f} s), "
              f"cpu {statistics.median(x['cpu'] for x in whole):.2f} s")


if __name__ == "__main__":
    main()
