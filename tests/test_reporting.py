"""report.html: self-contained, renders in headless Chromium without console errors, and never executes
markup carried by model outputs, prompts, category or target names."""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from babelsafe.metrics import summarize
from babelsafe.reporting.html import json_for_script, render_html, write_report
from babelsafe.results import Store
from toy_store import build_toy_store, write_probe

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                    "(apt-get install -y chromium)")

XSS = [
    "<script>document.title='pwned-script'</script>",
    "<img src=x onerror=\"document.title='pwned-img'\">",
    "</script><script>document.title='pwned-close'</script>",
    "<!--<script>document.title='pwned-comment'</script>",
    "<svg onload=\"document.title='pwned-svg'\"></svg>",
]
EVIL = " ".join(XSS)


def build_evil_run(run: Path) -> Path:
    """A toy run whose responses, prompts, categories, target label and transform carry markup."""
    run.mkdir(parents=True, exist_ok=True)
    db = build_toy_store(run / "results.sqlite")
    with Store(db) as st:
        for i, lang in enumerate(["en", "bn", "zh"]):
            write_probe(st, f"x{i}", lang, "full_compliance", text=f"Sure! {EVIL} — bread {i}",
                        category="<b onmouseover=alert(1)>cat</b>", target="evil<script>alert(1)</script>",
                        transform="aim")
            write_probe(st, f"y{i}", lang, "full_refusal", text=f"I can't help. {XSS[1]}", benign=True,
                        judge="refusal")
        st.write_component("target", "evil<script>alert(1)</script>", {"params": {"api_key_env": "K",
                                                                                  "note": XSS[0]}})
    return run


def chromium(args: list[str], tmp: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def test_json_for_script_cannot_break_out():
    data = [{"response": EVIL, "u": "\u2028\u2029&"}]
    text = str(json_for_script(data))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_report_files_and_static_escaping(tmp_path: Path):
    run = build_evil_run(tmp_path / "run")
    path = write_report(run)
    assert path == run / "report.html"
    html = path.read_text(encoding="utf-8")
    # exactly two script elements: the JSON data block and the report's own code
    assert len(re.findall(r"<script\b", html, flags=re.I)) == 2
    assert "<img" not in html and "<b onmouseover" not in html and "<svg onload" not in html
    for payload in XSS:
        assert payload not in html
    assert "&lt;script&gt;" in html  # target label and metadata are escaped, not dropped
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert "Content-Security-Policy" in html
    # summary.json was written and the exports hold every generation
    assert json.loads((run / "summary.json").read_text())["counts"]["total"] == 21
    with open(run / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 21 and {"label_refusal", "tier", "response", "probe_key"} <= set(rows[0])
    assert any(EVIL in (r["response"] or "") for r in rows)  # exports keep raw text (CSV is data)
    assert {r["tier"] for r in rows if r["language"] == "bn"} == {"low"}
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(run / "results.parquet")
    assert t.num_rows == 21 and "label_refusal" in t.column_names


def test_examples_sample_is_capped_and_stratified(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        for i in range(300):
            for lang in ("en", "bn"):
                write_probe(st, str(i), lang, "full_compliance" if i % 10 == 0 else "full_refusal")
    from babelsafe.reporting.exports import export_results
    res = export_results(run / "results.sqlite", run, primary_judge="refusal", max_examples=40, strata_hint=4)
    ex = res["examples"]
    assert len(ex) == 40 and res["rows"] == 600
    strata = {(e["lang"], e["label"]) for e in ex}
    assert strata == {("en", "full_compliance"), ("en", "full_refusal"), ("bn", "full_compliance"),
                      ("bn", "full_refusal")}
    again = export_results(run / "results.sqlite", run, primary_judge="refusal", max_examples=40, strata_hint=4)
    assert [e["item"] for e in again["examples"]] == [e["item"] for e in ex]  # deterministic


def test_parallel_export_matches_single_process(tmp_path: Path, monkeypatch):
    from babelsafe.reporting import exports
    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        for i in range(120):
            write_probe(st, str(i), "en", "full_compliance" if i % 3 else "full_refusal", text=f"line1\nline2 {i} বাংলা 中文 \"q\"")
    one = exports.export_results(run / "results.sqlite", run, workers=1, csv_name="one.csv",
                                 parquet_name="one.parquet", max_examples=30, strata_hint=2)
    monkeypatch.setattr(exports, "PARALLEL_MIN_ROWS", 10)
    two = exports.export_results(run / "results.sqlite", run, workers=2, csv_name="two.csv",
                                 parquet_name="two.parquet", max_examples=30, strata_hint=2)
    assert one["rows"] == two["rows"] == 120
    assert (run / "one.csv").read_bytes() == (run / "two.csv").read_bytes()
    assert [e["item"] for e in one["examples"]] == [e["item"] for e in two["examples"]]
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(run / "one.parquet").equals(pq.read_table(run / "two.parquet"))
    assert not list(run.glob(".export-*"))


def test_report_with_comparison_returns_data_and_the_cli_prints_it(tmp_path: Path, capsys):
    from typer.testing import CliRunner

    from babelsafe.api import report
    from babelsafe.cli import app

    a = build_evil_run(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    build_toy_store(b / "results.sqlite")
    rep = report(a, compare=b)
    assert capsys.readouterr().out == ""  # the library prints nothing
    assert rep.path == a / "report.html" and rep.comparison["overall"]["pairs"] == 11
    assert rep.summary["counts"]["total"] > 0
    html = rep.path.read_text(encoding="utf-8")
    assert 'id="compare"' in html and "Paired comparison" in html
    res = CliRunner().invoke(app, ["report", str(a), "--compare", str(b)])
    assert res.exit_code == 0, res.output
    assert "report:" in res.output and "McNemar" in res.output


def test_render_html_without_judges_or_data(tmp_path: Path):
    db = tmp_path / "results.sqlite"
    Store(db).close()
    html = render_html(summarize(db), [])
    assert "<html" in html and "No data." in html


@needs_chromium
def test_report_in_headless_chromium(tmp_path: Path):
    run = build_evil_run(tmp_path / "run")
    path = write_report(run)
    url = path.resolve().as_uri()
    dom = chromium(["--virtual-time-budget=5000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    out = dom.stdout
    assert 'data-report-ready="1"' in out, "the report's script did not run to the end"
    m = re.search(r"<title>(.*?)</title>", out, flags=re.S)
    assert m and m.group(1).startswith("babelsafe report"), m
    assert "pwned" not in m.group(1)
    assert "<img" not in out and "<svg onload" not in out
    assert out.count('class="ex"') > 0 and "Sure! &lt;script&gt;" in out  # rendered as text
    assert console_lines(dom.stderr) == [], console_lines(dom.stderr)
    shot = tmp_path / "report.png"
    res = chromium(["--screenshot=" + str(shot), "--window-size=1400,2000", "--virtual-time-budget=5000", url],
                   tmp_path)
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000
    assert console_lines(res.stderr) == [], console_lines(res.stderr)


def test_python_api_report_and_compare_are_functions(tmp_path: Path):
    import inspect

    import babelsafe
    import babelsafe.metrics.compare  # importing the module must not shadow the function
    import babelsafe.reporting.html  # importing the parts does not shadow the function

    a = build_evil_run(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    build_toy_store(b / "results.sqlite")
    assert inspect.isfunction(babelsafe.report)
    assert babelsafe.report(a).path == a / "report.html"
    assert babelsafe.compare(a, b)["overall"]["pairs"] == 11


def test_examples_show_back_translations(tmp_path: Path):
    from babelsafe.reporting.exports import export_results
    from babelsafe.types import Generation, Probe, Sample, Verdict

    run = tmp_path / "run"
    run.mkdir()
    with Store(run / "results.sqlite") as st:
        s = Sample(dataset="toy", id="1", language="en", prompt="How do I bake bread?")
        chain = [{"name": "translate", "params": {"to": "sw", "back_translation": "How can I bake bread?",
                                                   "chrf": 71.5}, "output": "Ninaokaje mkate?"}]
        p = Probe(sample=s, messages=[{"role": "user", "content": "Ninaokaje mkate?"}], language="sw", chain=chain)
        st.write_sample(s)
        st.write_probe(p)
        st.write_generation(p.key, "m", "ck", Generation(text="Changanya unga na maji."))
        st.write_verdict(p.key, "m", Verdict(judge="llm", label="safe",
                                             extra={"response_en": "Mix flour and water."}))
    (ex,) = export_results(run / "results.sqlite", run)["examples"]
    assert ex["prompt"] == "Ninaokaje mkate?" and ex["original"] == "How do I bake bread?"
    assert ex["prompt_back_translation"].startswith("How can I bake bread?") and "71.5" in ex["prompt_back_translation"]
    assert ex["back_translation"] == "Mix flour and water." and ex["transform"] == "translate"


@needs_chromium
def test_end_to_end_run_report_in_chromium(openai_server, tmp_path: Path, api_key):
    """A real run against the loopback OpenAI-compatible server whose answers carry markup; the run's
    report opens in Chromium without console errors and without running any of it."""
    import babelsafe
    from babelsafe.spec import load_spec

    data = tmp_path / "prompts.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for lang, text in (("en", "How do I bake bread {i}?"), ("bn", "আমি কীভাবে রুটি বানাব {i}?")):
            for i in range(4):
                f.write(json.dumps({"id": str(i), "language": lang, "prompt": text.format(i=i),
                                    "category": "cooking"}, ensure_ascii=False) + "\n")
    answers = iter(range(10**6))
    openai_server.responder = lambda body: ("I can't help with that." if next(answers) % 2 else
                                            f"Sure, here it is. {EVIL}")
    spec = load_spec(None, datasets=[str(data)], judges=["refusal"], out=str(tmp_path / "run"), retries=1,
                     targets=[{"type": "openai", "model": "fake-model", "base_url": openai_server.base_url,
                               "api_key_env": "BABELSAFE_TEST_KEY"}])
    res = babelsafe.run(spec)
    path = write_report(res.run_dir)
    html = path.read_text(encoding="utf-8")
    assert api_key not in html and "BABELSAFE_TEST_KEY" in html  # the variable's name, never its value
    s = json.loads((res.run_dir / "summary.json").read_text())
    assert s["counts"]["total"] == 8 and set(s["by_language"]) == {"en", "bn"}
    dom = chromium(["--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri()], tmp_path)
    assert 'data-report-ready="1"' in dom.stdout and "pwned" not in dom.stdout.split("</title>")[0]
    assert "<img" not in dom.stdout and console_lines(dom.stderr) == []
