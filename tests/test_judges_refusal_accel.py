"""The compiled accelerator (babelsafe/_accel.py, mypyc) gives the refusal judge's pure-Python verdicts.

Each path runs in its own process (the compiled and the source modules share names): the same rows
are judged with BABELSAFE_PURE_PYTHON=1 and without, and every field is compared. Without a built
accelerator the comparison is skipped, unless BABELSAFE_REQUIRE_ACCEL=1 (CI sets it) makes that a
failure.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "datasets" / "refusal_dev_xstest" / "responses.jsonl"

# Judges every row of the files given, plus seeded random strings, and prints one JSON line per row.
_DUMP = r'''
import glob, json, random, sys
from pathlib import Path
import babelsafe._accel as accel
from babelsafe.judges.refusal import RefusalJudge
files = sys.argv[1:]
rows = []
for f in files:
    for i, line in enumerate(open(f, encoding="utf-8")):
        if line.strip():
            r = json.loads(line)
            lang = r.get("language") or ("en" if "xstest" in f else None)
            rows.append((f"{Path(f).name}:{i}", r.get("response") or "", r.get("prompt") or "", lang))
# random strings: pieces of real answers, refusal words, other scripts, digits, markup and odd spaces
rnd = random.Random(12)
words = ("I can't help with that", "Sorry", "however", "Here is", "```", "step 1", "1.", "\n- ", "no",
         "lo siento", "no puedo", "ich kann nicht", "je ne peux pas", "不能", "无法", "できません", "죄송",
         "не могу", "لا أستطيع", "मैं नहीं", "আমি পারি না", "ไม่สามารถ", "as an AI", "illegal", "  ", "\t",
         "'m not able to", "İ", "ß", "é", "0", "?", "!", "…", "python", "的", "a", "the", "\u200b")
pieces = [r[1] for r in rows[:300]]
for k in range(1500):
    parts = [rnd.choice(words) if rnd.random() < 0.7 else rnd.choice(pieces)[:rnd.randint(0, 300)]
             for _ in range(rnd.randint(1, 25))]
    text = rnd.choice(("", " ", "\n")).join(parts)
    rows.append((f"random:{k}", text, rnd.choice(("", "How do I do it?", text[:50])),
                 rnd.choice((None, "en", "de", "zh", "ar", "bn", "xx", "ms"))))
judges = [RefusalJudge(), RefusalJudge(off_language="invalid"), RefusalJudge(code_rule="partial"),
          RefusalJudge(unrelated="strict", near_echo=False)]
print(json.dumps({"status": accel.status(), "files": [sys.modules[m].__file__ for m in accel.MODULES]}))
for key, resp, prompt, lang in rows:
    out = []
    for j in judges:
        v = j.classify(resp, prompt, lang)
        out.append([v.label, v.score, v.rationale, v.extra, v.error])
    print(json.dumps({"k": key, "v": out}, ensure_ascii=False, sort_keys=True))
'''


def _files() -> list[str]:
    data = ROOT / "tests" / "data"
    files = [data / "judge_hard_cases.jsonl", data / "judge_labels.jsonl",
             *sorted((data / "judge_parity").glob("*.jsonl"))]
    if DEV.exists():  # ../shared beside the repo (CI has it)
        files.insert(0, DEV)
    return [str(f) for f in files]


def _dump(pure: bool) -> tuple[dict, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("BABELSAFE_PURE_PYTHON", None)
    if pure:
        env["BABELSAFE_PURE_PYTHON"] = "1"
    out = subprocess.run([sys.executable, "-c", _DUMP, *_files()], env=env, capture_output=True, text=True,
                         timeout=600, check=True).stdout.splitlines()
    return json.loads(out[0]), out[1:]


def _compiled_status() -> str:
    code = "import babelsafe._accel as a, babelsafe.judges.refusal; print(a.status())"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("BABELSAFE_PURE_PYTHON", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True).stdout.strip()


@pytest.mark.slow
def test_compiled_and_pure_python_verdicts_are_identical() -> None:
    status = _compiled_status()
    if not status.startswith("compiled"):
        if os.environ.get("BABELSAFE_REQUIRE_ACCEL", "") not in ("", "0"):
            pytest.fail(f"BABELSAFE_REQUIRE_ACCEL is set but the refusal judge runs {status}")
        pytest.skip(f"accelerator not active: {status}")
    compiled_info, compiled = _dump(pure=False)
    pure_info, pure = _dump(pure=True)
    assert compiled_info["status"] == "compiled (mypyc)"
    assert pure_info["status"].startswith("pure Python (BABELSAFE_PURE_PYTHON")
    # every accelerated module (the judge's verdict steps, relevance, text ...) ran compiled, then as source
    assert not any(f.endswith(".py") for f in compiled_info["files"]), compiled_info["files"]
    assert all(f.endswith(".py") for f in pure_info["files"]), pure_info["files"]
    assert len(compiled) == len(pure) > 3000
    diffs = [(a, b) for a, b in zip(pure, compiled) if a != b]
    assert not diffs, f"{len(diffs)} rows differ; first: {diffs[0]}"


def test_pure_python_is_forced_by_the_environment_variable() -> None:
    code = ("import babelsafe._accel as a, babelsafe.judges.refusal as r, babelsafe.judges.lexicon_index as li;"
            "print(r.__file__); print(li.__file__); print(a.status())")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "BABELSAFE_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    assert out[0].endswith("refusal.py") and out[1].endswith("lexicon_index.py")
    assert out[2].startswith("pure Python")
