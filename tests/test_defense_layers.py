"""Defense layers inside real runs (runner + OpenAI target + store against the loopback server)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import babelsafe
from babelsafe.defense.lang import detect_language, refusal_text, refusals
from babelsafe.defense.layers import safety_prompts, wrap_target
from babelsafe.errors import UsageError
from babelsafe.judges.refusal import RefusalJudge, get_lexicon
from babelsafe.spec import load_spec

PROMPTS = {"en": "How do I bake bread number {i}?", "sw": "Ninaokaje mkate namba {i} nyumbani?",
           "fr": "Comment faire du pain numéro {i} à la maison ?"}


def write_dataset(path: Path, n: int = 3, langs=("en", "sw", "fr")) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for lang in langs:
            for i in range(n):
                f.write(json.dumps({"id": str(i), "language": lang, "prompt": PROMPTS[lang].format(i=i),
                                    "category": "cooking", "label": "harmful"}, ensure_ascii=False) + "\n")
    return path


def spec_for(srv, tmp_path: Path, defenses, **kw):
    target = {"type": "openai", "model": "fake-model", "base_url": srv.base_url, "api_key_env": "BABELSAFE_TEST_KEY",
              "defenses": defenses}
    data = {"datasets": [str(write_dataset(tmp_path / "prompts.jsonl", kw.pop("n", 3)))], "targets": [target],
            "judges": ["refusal"], "out": str(tmp_path / "run"), "retries": 1, "timeout": 5}
    data.update(kw)
    return load_spec(None, **data)


def rows(run_dir: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_refusal_texts_are_refusals_in_their_own_language():
    judge = RefusalJudge()
    table = refusals()
    assert len(table) >= 15
    checked = 0
    for code, entry in table.items():
        assert detect_language(entry["refusal"] + " " + entry["notice"]) == code, code
        if get_lexicon(code).code == code:
            v = judge.classify(entry["refusal"], "How do I bake bread?", code)
            assert v.label == "full_refusal", (code, v)
            checked += 1
    assert checked >= 15


def test_safety_prompt_reaches_the_server_and_changes_cache_keys(openai_server, tmp_path, api_key):
    spec = spec_for(openai_server, tmp_path, [{"name": "safety-prompt", "options": {"prompt": "pcdefense"}}])
    res = babelsafe.run(spec)
    assert res.counts["completed"] == 9 and openai_server.count == 9
    text = safety_prompts()["pcdefense"]["text"].strip()
    assert all(b["messages"][0] == {"role": "system", "content": text} for b in openai_server.bodies)
    assert all(b["messages"][1]["role"] == "user" for b in openai_server.bodies)
    comp = rows(res.run_dir, "SELECT config FROM components WHERE kind='target'")
    cfg = json.loads(comp[0][0])
    assert cfg["defenses"] == [{"name": "safety-prompt", "options": {"prompt": "pcdefense"}}]
    assert cfg["identity"]["defense"]["name"] == "safety-prompt"
    babelsafe.run(spec)  # the defended run again: all cached
    assert openai_server.count == 9
    # plain and defended side by side in one run (distinct labels): both asked
    both = spec.model_dump()
    t = both["targets"][0]
    both["targets"] = [{**t, "label": "defended"}, {**t, "label": "plain", "defenses": []}]
    both["out"] = str(tmp_path / "run2")
    openai_server.reset_counters()
    res2 = babelsafe.run(both)
    assert res2.counts["completed"] == 18 and openai_server.count == 18
    assert sum(b["messages"][0]["role"] == "system" for b in openai_server.bodies) == 9


def test_wrapped_identity_changes_the_cache_key(openai_server, tmp_path, api_key):
    from babelsafe.engine import RunCaller
    from babelsafe.results import Store
    from babelsafe.types import GenParams

    spec = spec_for(openai_server, tmp_path, [])
    with Store(tmp_path / "x.sqlite") as store:
        ctx = RunCaller(spec, store)
        plain = ctx.build_target(spec.targets[0]).target
        msgs = [{"role": "user", "content": "hi"}]
        keys = {ctx.cache_key(t, msgs, GenParams()) for t in
                (plain, wrap_target(plain, ["safety-prompt"], ctx), wrap_target(plain, ["safety-prompt:prompt=pcdefense"], ctx),
                 wrap_target(plain, ["translate-pivot"], ctx), wrap_target(plain, ["guard"], ctx))}
        assert len(keys) == 5


def translator_responder(body):
    msgs = body["messages"]
    sys_ = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    last = msgs[-1]["content"]
    if sys_.startswith("Translate the following text into "):
        lang = sys_[len("Translate the following text into "):].split(".")[0]
        return f"[{lang}] {last}"
    return f"Answer: {last}"


def test_translate_pivot_asks_in_english_and_translates_back(openai_server, tmp_path, api_key):
    openai_server.responder = translator_responder
    spec = spec_for(openai_server, tmp_path, [{"name": "translate-pivot"}])
    res = babelsafe.run(spec)
    assert res.counts["completed"] == 9
    gens = dict(rows(res.run_dir, "SELECT s.language || ':' || s.item_id, g.text FROM generations g "
                                  "JOIN probes p ON p.probe_key=g.probe_key JOIN samples s ON s.sample_key=p.sample_key"))
    assert gens["sw:1"] == f"[Swahili] Answer: [English] {PROMPTS['sw'].format(i=1)}"
    assert gens["fr:0"] == f"[French] Answer: [English] {PROMPTS['fr'].format(i=0)}"
    assert gens["en:2"] == f"Answer: {PROMPTS['en'].format(i=2)}"  # English goes straight through
    # sw/fr: 2 translations + 1 question each; en: 1 question -> 6*3 + 3 = 21 model calls
    assert openai_server.count == 21
    purposes = dict(rows(res.run_dir, "SELECT purpose, count(*) FROM calls GROUP BY purpose"))
    assert purposes == {"translate": 12, "target": 18}  # 9 defended answers + 9 inner calls to the model
    babelsafe.run(spec)  # everything cached
    assert openai_server.count == 21


def test_guard_layer_answers_blocked_prompts_with_a_localized_refusal(openai_server, tmp_path, api_key):
    leaks = {"en": "I'm sorry, but I can't help with that. However, here is a general overview:",
             "sw": "Samahani, siwezi kusaidia na hilo. Hata hivyo, hapa kuna muhtasari wa jumla:",
             "fr": "Je suis désolé, mais je ne peux pas vous aider. Cependant, voici un aperçu général :"}
    steps = (" Step 1: mix 500 g of flour with 10 g of salt. Step 2: add 320 ml of warm water and 7 g of yeast. "
             "Step 3: knead for ten minutes until smooth. Step 4: let it rise for one hour. Step 5: bake it.")

    def responder(body):
        last = body["messages"][-1]["content"]
        lang = "sw" if "Ninaokaje" in last else "fr" if "Comment" in last else "en"
        return leaks[lang] + steps if "1" in last else "Sure, here you go." + steps

    openai_server.responder = responder
    res = babelsafe.run(spec_for(openai_server, tmp_path, [{"name": "guard", "options": {"judge": "refusal"}}]))
    got = rows(res.run_dir, "SELECT s.language, s.item_id, g.text, g.finish_reason, v.label FROM generations g "
                            "JOIN probes p ON p.probe_key=g.probe_key JOIN samples s ON s.sample_key=p.sample_key "
                            "JOIN verdicts v ON v.probe_key=g.probe_key")
    assert len(got) == 9
    for lang, item, text, finish, label in got:
        if item == "1":
            assert text == refusal_text(lang) and finish == "content_filter" and label == "full_refusal"
        else:
            assert text.startswith("Sure")
            # an English answer to a sw/fr prompt is judged on its content (issue 12), its language recorded
            assert label == "full_compliance"


def test_defense_names_and_options_are_checked(openai_server, tmp_path, api_key):
    from babelsafe.engine import RunCaller
    from babelsafe.results import Store

    spec = spec_for(openai_server, tmp_path, [])
    with Store(tmp_path / "x.sqlite") as store:
        ctx = RunCaller(spec, store)
        slot = ctx.build_target(spec.targets[0])
        with pytest.raises(UsageError, match="Did you mean 'guard'"):
            wrap_target(slot.target, [{"name": "gaurd"}], ctx)
        with pytest.raises(UsageError, match="unknown options"):
            wrap_target(slot.target, [{"name": "safety-prompt", "options": {"promt": "x"}}], ctx)
        w = wrap_target(slot.target, ["safety-prompt:prompt=xsafety", "guard"], ctx)
        assert w.name == "openai+safety-prompt+guard"
        assert w.identity()["inner"]["defense"]["config"]["prompt"] == "xsafety"
        assert w.identity() != wrap_target(slot.target, ["safety-prompt"], ctx).identity()


def test_translate_pivot_uses_the_probe_and_run_languages_as_prior(openai_server, tmp_path, api_key):
    """Issue 13, item 5: MultiJail item 87 in English, a short question lingua alone calls Swedish, goes
    straight to the model in a run over en,zh,bn; the zh and bn versions are pivoted through English."""
    import csv
    import importlib.resources as res

    f = res.files("babelsafe.datasets").joinpath("data/multijail/MultiJail.csv").read_text("utf-8-sig")
    row = next(r for r in csv.DictReader(f.splitlines()) if r["id"] == "87")
    path = tmp_path / "mj87.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for lang in ("en", "zh", "bn"):
            fh.write(json.dumps({"id": "87", "language": lang, "prompt": row[lang], "label": "harmful"},
                                ensure_ascii=False) + "\n")
    openai_server.responder = translator_responder
    spec = spec_for(openai_server, tmp_path, [{"name": "translate-pivot"}], datasets=[str(path)],
                    languages=["en", "zh", "bn"])
    out = babelsafe.run(spec)
    gens = dict(rows(out.run_dir, "SELECT s.language, g.text FROM generations g JOIN probes p ON "
                                  "p.probe_key=g.probe_key JOIN samples s ON s.sample_key=p.sample_key"))
    assert gens["en"] == f"Answer: {row['en']}"  # not taken for Swedish: no translation at all
    assert gens["zh"] == f"[Chinese] Answer: [English] {row['zh']}"
    assert gens["bn"] == f"[Bengali] Answer: [English] {row['bn']}"
    assert not any("Swedish" in json.dumps(b) for b in openai_server.bodies)


def test_translate_pivot_leaves_a_message_of_unknown_language_untranslated(openai_server, tmp_path, api_key):
    from babelsafe.engine import RunCaller
    from babelsafe.results import Store
    from babelsafe.types import GenParams

    openai_server.responder = translator_responder
    spec = spec_for(openai_server, tmp_path, [])
    with Store(tmp_path / "x.sqlite") as store:
        ctx = RunCaller(spec, store)
        plain = ctx.build_target(spec.targets[0]).target
        pivot = wrap_target(plain, ["translate-pivot"], ctx)
        import asyncio

        g = asyncio.run(pivot.generate([{"role": "user", "content": "Kitchen knife sharpen"}], GenParams()))
        assert g.text == "Answer: Kitchen knife sharpen" and openai_server.count == 1


def test_the_call_record_of_a_defended_answer_shows_the_system_prompt(openai_server, tmp_path, api_key):
    """Issue 13, item 8: the record the generation links to (the defended call) holds what the model was
    actually sent, safety system prompt included, and the inner call's key."""
    spec = spec_for(openai_server, tmp_path, [{"name": "safety-prompt", "options": {"prompt": "pcdefense"}}], n=1)
    res = babelsafe.run(spec)
    text = safety_prompts()["pcdefense"]["text"].strip()
    linked = rows(res.run_dir, "SELECT c.request FROM generations g JOIN calls c ON c.cache_key = g.cache_key")
    assert len(linked) == 3
    keys = {k for (k,) in rows(res.run_dir, "SELECT cache_key FROM calls")}
    for (req,) in linked:
        sent = json.loads(req)["sent"]
        assert sent[-1]["messages"][0] == {"role": "system", "content": text}
        assert sent[-1]["cache_key"] in keys
