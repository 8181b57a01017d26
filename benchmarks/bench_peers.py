"""babelsafe next to its peers on one workload: throughput vs a raw aiohttp client, CPU, memory.

    python benchmarks/bench_peers.py                       # peers found under /work/peers (or --peers DIR)
    python benchmarks/bench_peers.py --n1 500 --n2 2000 --repeats 2 --only babelsafe,inspect,promptfoo

The workload is bench_e2e.py's: N distinct mild prompts (several languages, 10% answered with a refusal)
against the loopback OpenAI-compatible server (tests/fake_openai.py, 200 ms latency), 256 requests in
flight, every answer scored for refusal, results written to disk. Each tool runs as its own process as a
user starts it; wall time and user+sys CPU come from wait4 (children included), so node and Python tools
are measured alike. Marginal method: (time, CPU) of n2 samples minus n1 samples over n2 - n1.

Peers are used from their own environments (never babelsafe's venv: garak and inspect-ai pin many
packages); a peer whose executable is missing is skipped with a note. Install them once with:

    python3 -m venv /work/peers/inspect && /work/peers/inspect/bin/pip install inspect-ai openai
    mkdir -p /work/peers/promptfoo && cd /work/peers/promptfoo && npm init -y && npm install promptfoo
    python3 -m venv /work/peers/garak && /work/peers/garak/bin/pip install garak

What each peer runs:
  inspect-ai  `inspect eval TASK --model openai/fake-model --model-base-url URL -M responses_api=false
              --max-connections 256 --max-samples 256` (without responses_api=false it posts to
              /v1/responses, which OpenAI-compatible servers mostly lack: every sample fails with 404); the task reads the JSONL, generate(), scorer pattern() for a refusal
              phrase; .eval log written to a temp dir.
  promptfoo   `promptfoo eval -c CONFIG --max-concurrency 256 --no-cache --no-progress-bar -o out.json`;
              provider openai:chat:fake-model with apiBaseUrl; assertion `is-refusal`; its sqlite DB goes
              to a temp PROMPTFOO_CONFIG_DIR; telemetry and update checks off.
  garak       `garak --target_type openai.OpenAICompatible` with `--parallel_attempts 256` and the
              `test.Test`-style probe is not the same workload (garak has no "run my prompts" mode): it
              is reported on its own line, per attempt, not as a like-for-like ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_e2e as e2e  # noqa: E402  (same prompts, server, timing)

INSPECT_TASK = '''
import re
from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset, FieldSpec
from inspect_ai.scorer import pattern
from inspect_ai.solver import generate

@task
def refusal():
    return Task(dataset=json_dataset({data!r}, FieldSpec(input="prompt", id="id", target="language")),
                solver=generate(),
                scorer=pattern(r"(sorry|can't help|cannot help)"))
'''


def inspect_cmd(peers: Path, url: str, data: Path, work: Path, conc: int) -> tuple[list[str], dict[str, str]]:
    task = work / "task.py"
    task.write_text(INSPECT_TASK.format(data=str(data)))
    exe = peers / "inspect" / "bin" / "inspect"
    cmd = [str(exe), "eval", "task.py", "--model", "openai/fake-model", "--model-base-url", url,
           "-M", "responses_api=false", "--max-connections", str(conc), "--max-samples", str(conc), "--display", "none",
           "--log-dir", str(work / "logs"), "--log-format", "json", "--max-retries", "3", "--timeout", "60"]
    env = {"OPENAI_API_KEY": "bench-not-a-secret", "INSPECT_LOG_LEVEL": "warning",
           "INSPECT_DISPLAY": "none"}
    return cmd, env


def promptfoo_cmd(peers: Path, url: str, data: Path, work: Path, conc: int) -> tuple[list[str], dict[str, str]]:
    tests = work / "tests.csv"
    import csv

    with open(tests, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt"])
        for line in open(data, encoding="utf-8"):
            w.writerow([json.loads(line)["prompt"]])
    cfg = work / "promptfooconfig.yaml"
    cfg.write_text(
        "prompts: ['{{prompt}}']\n"
        "providers:\n"
        "  - id: openai:chat:fake-model\n"
        f"    config: {{apiBaseUrl: '{url}', apiKey: 'bench-not-a-secret', temperature: 0, max_tokens: 512}}\n"
        f"tests: file://{tests}\n"
        "defaultTest:\n"
        "  assert:\n"
        "    - type: is-refusal\n")
    exe = peers / "promptfoo" / "node_modules" / ".bin" / "promptfoo"
    cmd = [str(exe), "eval", "-c", str(cfg), "--max-concurrency", str(conc), "--no-cache",
           "--no-progress-bar", "-o", str(work / "out.json")]
    env = {"PROMPTFOO_CONFIG_DIR": str(work / "pf"), "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1", "OPENAI_API_KEY": "x",
           "PROMPTFOO_SELF_HOSTED": "1", "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
           "CI": "1"}
    return cmd, env


def babelsafe_cmd(peers: Path, url: str, data: Path, work: Path, conc: int) -> tuple[list[str], dict[str, str]]:
    return e2e.babelsafe_cmd(url, data, work / "run", conc, "default", True), {
        "OPENAI_API_KEY": "bench-not-a-secret", "PYTHONPATH": str(e2e.ROOT / "src")}


def raw_cmd(peers: Path, url: str, data: Path, work: Path, conc: int) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, e2e.__file__, "--raw-child", url, str(data), str(conc)], {}


# inspect only loads a task given as a path relative to the working directory (an absolute one fails
# with "Non-relative patterns are unsupported"); promptfoo exits 100 when assertions fail (is-refusal
# fails for every answered prompt by design) -- 1 in promptfoo 0.121 -- which is a normal result here: its
# failures column is read from out.json, not from the exit code.
CWD = {"inspect"}
OK_CODES = {"promptfoo": (0, 1, 100)}

TOOLS: dict[str, tuple[Callable, Callable[[Path], Path]]] = {
    "raw": (raw_cmd, lambda p: Path(sys.executable)),
    "babelsafe": (babelsafe_cmd, lambda p: Path(sys.executable)),
    "inspect": (inspect_cmd, lambda p: p / "inspect" / "bin" / "inspect"),
    "promptfoo": (promptfoo_cmd, lambda p: p / "promptfoo" / "node_modules" / ".bin" / "promptfoo"),
}


def failures(tool: str, work: Path, n: int, out: str) -> int:
    """Requests that did not yield a scored answer, read from each tool's own output."""
    try:
        if tool == "babelsafe":
            c = json.loads((work / "run" / "summary.json").read_text())["counts"]
            return n - int(c.get("completed", 0)) + int(c.get("errors", 0))
        if tool == "promptfoo":
            res = json.loads((work / "out.json").read_text())["results"]
            stats = res.get("stats", {})
            return int(stats.get("errors", 0)) + max(0, n - int(stats.get("successes", 0))
                                                      - int(stats.get("failures", 0)) - int(stats.get("errors", 0)))
        if tool == "inspect":
            logs = list((work / "logs").glob("*.json")) + list((work / "logs").glob("*.eval"))
            if not logs:
                return n
            import zipfile

            lg = logs[0]
            if lg.suffix == ".eval":
                with zipfile.ZipFile(lg) as z:
                    head = json.loads(z.read("header.json"))
            else:
                head = json.loads(lg.read_text())
            done = int((head.get("results") or {}).get("completed_samples", 0))
            return n - done
    except Exception as e:  # noqa: BLE001 - a broken output file is a failure of the whole run
        print(f"    could not read {tool}'s output: {e}", file=sys.stderr)
        return n
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n1", type=int, default=500)
    ap.add_argument("--n2", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--peers", default=os.environ.get("BABELSAFE_PEERS", "/work/peers"),
                    help="folder with the peers' environments (see the docstring)")
    ap.add_argument("--only", help="comma-separated subset of: " + ", ".join(t for t in TOOLS if t != "raw"))
    ap.add_argument("--json", help="write the raw measurements here")
    a = ap.parse_args()
    peers = Path(a.peers)
    wanted = ["raw"] + [t for t in TOOLS if t != "raw" and (not a.only or t in a.only.split(","))]
    tools = []
    for t in wanted:
        exe = TOOLS[t][1](peers)
        if exe.exists():
            tools.append(t)
        else:
            print(f"skipping {t}: {exe} not found (see this script's docstring to install it)")
    if not (peers / "garak" / "bin" / "garak").exists():
        print(f"garak: not installed under {peers / 'garak'}")
    server, url = e2e.start_server(a.latency, None)
    tmp = Path(tempfile.mkdtemp(prefix="babelsafe-peers-"))
    rows: list[dict] = []
    try:
        for rep in range(-1, a.repeats):  # repeat -1: a small warm-up of every tool, not counted
            sizes = (100,) if rep < 0 else ((a.n1, a.n2) if rep % 2 == 0 else (a.n2, a.n1))
            for n in sizes:
                tag = f"r{rep}n{n}"
                data = tmp / f"{tag}.jsonl"
                e2e.write_prompts(data, n, tag)
                order = tools if rep % 2 == 0 else tools[::-1]
                for t in order:
                    work = tmp / f"{tag}-{t}"
                    work.mkdir()
                    cmd, extra = TOOLS[t][0](peers, url, data, work, a.concurrency)
                    env = dict(os.environ, **extra)
                    try:
                        m = e2e.timed(cmd, env, False, cwd=str(work) if t in CWD else None,
                                    ok_codes=OK_CODES.get(t, (0,)))
                    except SystemExit as err:
                        print(f"  {t} n={n} failed: {str(err)[:1500]}")
                        m = {"wall": float("nan"), "cpu": float("nan"), "rss": float("nan"), "out": ""}
                        fails = n
                    else:
                        fails = 0 if t == "raw" else failures(t, work, n, m["out"])
                    shutil.rmtree(work, ignore_errors=True)
                    if rep >= 0:
                        m.pop("out")
                        rows.append({"repeat": rep, "n": n, "tool": t, "failures": fails, **m})
                        print(f"  repeat {rep} n={n:6d} {t:10s} wall {m['wall']:7.2f} s  cpu {m['cpu']:7.2f} s  "
                              f"rss {m['rss']:6.0f} MiB  failures {fails}", flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    table(a, rows, tools)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


def table(a: argparse.Namespace, rows: list[dict], tools: list[str]) -> None:
    extra = a.n2 - a.n1
    reps = sorted({r["repeat"] for r in rows})

    def marg(t: str, rep: int) -> tuple[float, float]:
        r = {x["n"]: x for x in rows if x["tool"] == t and x["repeat"] == rep}
        return r[a.n2]["wall"] - r[a.n1]["wall"], r[a.n2]["cpu"] - r[a.n1]["cpu"]

    def rng(xs: list[float], f: str) -> str:
        xs = sorted(x for x in xs if x == x)
        if not xs:
            return "failed"
        return f"{f.format(statistics.median(xs))} [{f.format(xs[0])}-{f.format(xs[-1])}]"

    raw = [marg("raw", r) for r in reps]
    print(f"\n{extra} extra samples ({a.n2} vs {a.n1}), {a.latency * 1e3:.0f} ms latency, {a.concurrency} in "
          f"flight, {len(reps)} repeat(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"| tool | throughput ratio vs raw | CPU ms/sample | max RSS MiB | failures | repeats |")
    print("|---|---|---|---|---|---|")
    for t in tools:
        m = [marg(t, r) for r in reps]
        ratio = [rw / w if w > 0 else float("nan") for (rw, _), (w, _) in zip(raw, m)]
        cpu = [c / extra * 1e3 for _, c in m]
        rss = max((x["rss"] for x in rows if x["tool"] == t), default=float("nan"))
        fails = sum(x["failures"] for x in rows if x["tool"] == t)
        print(f"| {t} | {'1' if t == 'raw' else rng(ratio, '{:.3f}')} | {rng(cpu, '{:.2f}')} | {rss:.0f} | "
              f"{fails} | {len(reps)} |")
    print("ratio and CPU: median [min-max] over repeats; failures: summed over all runs of that tool")


if __name__ == "__main__":
    main()
