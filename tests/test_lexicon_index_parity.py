"""The lexicon index finds every match its patterns have, on real translated answers (all 19 languages).

The refusal judge only runs a pattern near one of its literal triggers (lexicon_index). A pattern whose
trigger can never be met (a trigger that starts inside a word in a spaced script, a one-character
trigger in an unspaced one, a '^' in one branch of a top-level alternation) silently never fires in
that language, which breaks cross-lingual parity without any other test noticing. Dev rows only.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from babelsafe.judges.answer_language import answer_language
from babelsafe.judges.answer_text import dominant_script, normalize, script_profile
from babelsafe.judges.lexicon import answer_lexicon
from babelsafe.judges.refusal_features import HEAD, density

PARITY = Path(__file__).parent / "data" / "judge_parity"
LANGS = sorted(p.stem for p in PARITY.glob("*.jsonl"))


@pytest.mark.parametrize("lang", LANGS)
def test_index_finds_every_pattern_match(lang):
    rows = [json.loads(x) for x in (PARITY / f"{lang}.jsonl").read_text("utf-8").splitlines() if x.strip()]
    rows = [r for r in rows if r["split"] == "dev" and r["response"].strip()]
    assert len(rows) > 150
    compiled: dict[str, re.Pattern[str]] = {}
    missed = []
    for r in rows:
        raw = r["response"].strip()
        prof = script_profile(raw[:80])
        script = dominant_script(prof)
        code, _ = answer_language(raw[:100], prof, normalize(raw[:HEAD])[:100])
        lex = answer_lexicon(script, code)
        head = normalize(raw[:int(HEAD / density(script, code))])
        found = lex.find(head)
        idx = lex.index
        for i, kind in enumerate(idx.kinds):
            pat = idx.patterns[i]
            rx = compiled.setdefault(pat, re.compile(pat))
            m = rx.match(head) if i in idx.anchored else rx.search(head)
            if m and not any(s <= m.start() < max(e, s + 1) for s, e in found.get(kind, ())):
                missed.append((r["id"], kind, pat[:80], head[m.start():m.end()][:40]))
    assert not missed, f"{len(missed)} matches the index never sees, e.g. {missed[:3]}"
