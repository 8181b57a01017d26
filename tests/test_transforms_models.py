"""Model-based transforms (translate, aim/template translation, codeswitch, mutate, adaptive) through the
real run context (RunCaller + SQLite store) and the OpenAI target against the loopback server."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest

import babelsafe
from babelsafe.errors import UsageError
from babelsafe.engine import RunCaller
from babelsafe.spec import load_spec
from babelsafe.results import RunReader, Store
from babelsafe.transforms.adaptive import Adaptive
from babelsafe.transforms.base import data_text, data_yaml, first_probe
from babelsafe.transforms.ciphers import Caesar
from babelsafe.transforms.codeswitch import CodeSwitch, segment
from babelsafe.transforms.mutate import Mutate, mutations
from babelsafe.transforms.templates import AIM
from babelsafe.transforms.translate import Translate, chrf
from babelsafe.types import Sample

BREAD = "How do I bake bread?"
SW = "Ninaokaje mkate?"
DICT = {("English", "Swahili"): {BREAD: SW},
        ("Swahili", "English"): {SW: BREAD},
        ("English", "Bengali"): {BREAD: "আমি কীভাবে রুটি বানাব?"},
        ("Bengali", "English"): {"আমি কীভাবে রুটি বানাব?": "How can I make bread?"}}
_TR = re.compile(r"Translate the following text from (.+?) into (.+?)\.\n\n(.*)", re.S)
_CS = re.compile(r"Translate each numbered item below from (.+?) into (.+?), as it is used")


def fake_models(body: dict) -> str:
    """A deterministic 'translator / rewriter' behind the loopback server."""
    msgs = body["messages"]
    user = msgs[-1]["content"]
    if body.get("model") == "rewriter":
        return "REWRITTEN: " + user.rsplit("Request:\n", 1)[-1]
    if _CS.search(user):
        items = re.findall(r"^(\d+)\. (.+)$", user, re.M)
        return "\n".join(f"{n}. {w.upper()}" for n, w in items)
    m = _TR.match(user)
    if m:
        src, tgt, text = m.groups()
        return DICT.get((src, tgt), {}).get(text, f"[{tgt}] {text}")
    return "Echo: " + user


TRANSLATOR = {"type": "openai", "model": "translator"}


@pytest.fixture
def srv(openai_server):
    openai_server.responder = fake_models
    TRANSLATOR["base_url"] = openai_server.base_url
    return openai_server


@pytest.fixture
async def make_ctx(tmp_path, srv):
    stores, ctxs = [], []

    def make(name: str = "s.sqlite") -> RunCaller:
        spec = load_spec(None, out=str(tmp_path / "run"), retries=0, timeout=5)
        store = Store(tmp_path / name)
        stores.append(store)
        ctxs.append(RunCaller(spec, store))
        return ctxs[-1]

    yield make
    for c in ctxs:
        for slot in list(c._slots.values()):
            close = getattr(slot.target, "aclose", None)
            if close is not None:
                await close()
    for s in stores:
        s.close()


def sample(prompt: str = BREAD, lang: str = "en", **meta) -> Sample:
    return Sample(dataset="toy", id="7", language=lang, prompt=prompt, meta=meta)


def translator(srv, model="translator"):
    return {"type": "openai", "model": model, "base_url": srv.base_url}


# --- translate ----------------------------------------------------------------------------------

async def test_translate_with_model_scores_back_translation_and_caches(srv, make_ctx, tmp_path):
    ctx = make_ctx()
    t = Translate(to="sw", target=translator(srv))
    (p,) = await t.apply(first_probe(sample()), ctx)
    assert p.prompt_text == SW and p.language == "sw" and p.transform == "translate"
    params = p.chain[-1]["params"]
    assert params["method"] == "model" and params["back_translation"] == BREAD and params["chrf"] == 100.0
    assert srv.count == 2  # forward + back
    req = srv.bodies[0]["messages"]
    tpl = data_yaml("prompts/translate.yaml")
    assert req[0]["content"] == tpl["system"]
    assert req[1]["content"] == tpl["user"].format(source_name="English", target_name="Swahili", text=BREAD)
    ctx.store.flush()
    with RunReader(ctx.store.path) as r:
        purposes = sorted(u.purpose for u in r.call_usage())
    assert purposes == ["back_translate", "translate"]
    # the same translation again (same store): served from the cache, no new request
    ctx2 = RunCaller(ctx.spec, ctx.store)
    (p2,) = await t.apply(first_probe(sample()), ctx2)
    for slot in ctx2._slots.values():
        await slot.target.aclose()
    assert p2.prompt_text == SW and srv.count == 2


async def test_translate_min_chrf_flags_or_drops(srv, make_ctx):
    ctx = make_ctx()
    expected = round(chrf("How can I make bread?", BREAD), 2)
    assert 30 < expected < 60  # passes the default gate (30), fails min_chrf=60
    (p,) = await Translate(to="bn", target=translator(srv)).apply(first_probe(sample()), ctx)
    assert "transform_error" not in p.meta and p.chain[-1]["params"]["chrf"] == expected
    (p,) = await Translate(to="bn", target=translator(srv), min_chrf=60).apply(first_probe(sample()), ctx)
    assert p.meta["transform_error"] == f"translate: quality gate: round-trip chrF {expected:.1f} < min_chrf 60"
    assert p.chain[-1]["params"]["chrf"] == expected and p.language == "bn" and p.prompt_text == BREAD
    assert await Translate(to="bn", target=translator(srv), min_chrf=60, on_low="drop").apply(
        first_probe(sample()), ctx) == []
    with pytest.raises(UsageError, match="min_chrf"):
        Translate(to="bn", target=translator(srv), min_chrf=300)


REFUSAL = "I'm sorry, but I can't help with that request."


async def test_translate_gate_is_on_by_default(srv, make_ctx):
    """Issue 13, item 1: a translator's refusal (round-trip chrF ~10), an untranslated echo and an answer
    in the wrong language are never sent as the attack; each is a transform error with the reason."""
    ctx = make_ctx()

    def refuses(body):
        user = body["messages"][-1]["content"]
        return REFUSAL if "into German" in user else "Sorry, I can't help with that." if "from German" in \
            user else BREAD if "into Swahili" in user else "Wie backe ich Brot zu Hause?"

    srv.responder = refuses
    de, sw, fr = await Translate(to="de+sw+fr", target=translator(srv)).apply(first_probe(sample()), ctx)
    assert de.meta["transform_error"].startswith("translate: quality gate: the helper model refused")
    assert de.chain[-1]["params"]["output"] == REFUSAL and de.language == "de"
    assert sw.meta["transform_error"] == "translate: quality gate: the output is the input unchanged"
    assert fr.meta["transform_error"] == "translate: quality gate: the output is in 'de', not 'fr'"
    # a refusal in the target language: caught by the round trip (chrF of the back-translation)
    srv.responder = lambda body: "Lo siento, no puedo ayudar con eso." if "into Spanish" in \
        body["messages"][-1]["content"] else "I am sorry, I cannot help with that."
    (es,) = await Translate(to="es", target=translator(srv), check=False).apply(first_probe(sample()), ctx)
    score = es.chain[-1]["params"]["chrf"]
    assert score < 30 and es.meta["transform_error"].endswith(f"round-trip chrF {score:.1f} < min_chrf 30")


def test_rejected_translations_are_stored_as_transform_errors_and_never_sent(srv, tmp_path):
    def responder(body):
        user = body["messages"][-1]["content"]
        if body.get("model") == "translator":
            return REFUSAL if "into German" in user else DICT.get(("English", "Swahili"), {}).get(
                user.rsplit("\n\n", 1)[-1], BREAD)
        return "Here is how."

    srv.responder = responder
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "1", "language": "en", "prompt": BREAD}) + "\n", encoding="utf-8")
    spec = load_spec(None, datasets=[str(data)], languages=["en"], judges=["refusal"], out=str(tmp_path / "run"),
                     transforms=[[{"name": "translate", "options": {"to": "de+sw", "target": translator(srv)}}]],
                     targets=[{"type": "openai", "model": "m", "base_url": srv.base_url}], retries=0, timeout=5)
    res = babelsafe.run(spec)
    got = dict((lang, (outcome, kind, err)) for lang, outcome, kind, err in _rows(
        res.run_dir, "SELECT p.language, g.outcome, g.error_kind, g.error FROM generations g JOIN probes p "
                     "USING(probe_key)"))
    assert got["de"][:2] == ("error", "transform") and "refused" in got["de"][2]
    assert got["sw"][:2] == ("ok", None)
    sent = [b["messages"][-1]["content"] for b in srv.bodies if b.get("model") == "m"]
    assert sent == [SW]  # the refusal was never sent as the "German" attack


async def test_translate_prefers_human_translation(srv, make_ctx):
    ctx = make_ctx()
    s = sample(translations={"en": BREAD, "sw": "Mkate unaokwa vipi?"})
    (p,) = await Translate(to="sw").apply(first_probe(s), ctx)
    assert p.prompt_text == "Mkate unaokwa vipi?" and p.chain[-1]["params"]["method"] == "human"
    assert "chrf" not in p.chain[-1]["params"] and srv.count == 0
    (p,) = await Translate(to="sw", target=translator(srv)).apply(first_probe(s), ctx)
    assert p.chain[-1]["params"]["method"] == "human" and "chrf" in p.chain[-1]["params"]
    assert srv.count == 1  # only the back-translation
    (p,) = await Translate(to="sw", target=translator(srv), source="machine").apply(first_probe(s), ctx)
    assert p.prompt_text == SW and p.chain[-1]["params"]["method"] == "model"


async def test_translate_human_from_registered_parallel_dataset(make_ctx):
    from babelsafe.registry import registry

    ds = registry("dataset").get("multijail")()
    s_bn = next(iter(ds.load(["bn"])))
    (p,) = await Translate(to="sw").apply(first_probe(s_bn), make_ctx())
    assert p.prompt_text == type(ds).translations(s_bn.id)["sw"] and p.language == "sw"


async def test_translate_failures_are_flagged_or_dropped(srv, make_ctx):
    ctx = make_ctx()
    srv.faults.extend(["400"])
    (p,) = await Translate(to="sw", target=translator(srv)).apply(first_probe(sample()), ctx)
    assert p.meta["transform_error"].startswith("translate: error") and p.language == "sw"
    assert p.prompt_text == BREAD
    # no translator and no human translation
    (p,) = await Translate(to="sw").apply(first_probe(sample()), ctx)
    assert "no human translation" in p.meta["transform_error"]
    assert await Translate(to="sw", on_error="drop").apply(first_probe(sample()), ctx) == []
    with pytest.raises(UsageError):
        Translate(to="sw", prefer_human=False)
    with pytest.raises(UsageError, match="Unknown language"):
        Translate(to="xx-notalang")


async def test_translate_to_several_languages_including_identity(srv, make_ctx):
    probes = await Translate(to=["en", "sw"], target=translator(srv), back_translate=False).apply(
        first_probe(sample()), make_ctx())
    assert [(p.language, p.prompt_text) for p in probes] == [("en", BREAD), ("sw", SW)]
    assert probes[0].chain[-1]["params"]["method"] == "identity"
    assert Translate(to="zh+bn sw").to == ["zh", "bn", "sw"]


# --- templates in the prompt's language -------------------------------------------------------

async def test_aim_with_translated_template(srv, make_ctx):
    ctx = make_ctx()
    (p,) = await AIM(template_language="same", target=translator(srv)).apply(first_probe(sample(SW, "sw")), ctx)
    tpl = data_text("templates/multijail/aim.txt")
    prefix = tpl.split("{{ prompt }}")[0]
    assert p.prompt_text == f"[Swahili] {prefix}{SW}\""
    assert p.chain[-1]["params"]["template_language"] == "sw"
    srv.faults.append("400")
    (q,) = await AIM(template_language="bn", target=translator(srv)).apply(first_probe(sample()), make_ctx("t.sqlite"))
    assert "transform_error" in q.meta


# --- codeswitch ---------------------------------------------------------------------------------

TEXT = "Please tell me how to bake a simple loaf of bread at home today."


async def test_codeswitch_word_level_is_exact_and_deterministic(srv, make_ctx):
    ctx = make_ctx()
    cs = CodeSwitch(lang="sw", ratio=0.5, level="word", seed=1, target=translator(srv))
    (p,) = await cs.apply(first_probe(sample(TEXT)), ctx)
    (q,) = await CodeSwitch(lang="sw", ratio=0.5, level="word", seed=1, target=translator(srv)).apply(
        first_probe(sample(TEXT)), ctx)
    assert p.prompt_text == q.prompt_text
    switched = p.chain[-1]["params"]["switched"]
    words = re.findall(r"[A-Za-z]+", TEXT)
    assert len(words) == 14 and len(switched) == 7
    assert all(t == w.upper() for w, t in switched)
    # every switched word is upper-cased in place, every other word unchanged
    out_words = re.findall(r"[A-Za-z]+", p.prompt_text)
    assert len(out_words) == 14
    assert sum(o != w for o, w in zip(out_words, words)) == 7
    assert [o for o, w in zip(out_words, words) if o != w] == [t for _, t in switched]
    assert p.meta["mixed_language"] == "sw" and p.language == "en"
    # the translator saw the whole sentence as context and the numbered items
    user = srv.bodies[0]["messages"][-1]["content"]
    assert TEXT in user and "1. " in user
    # another seed picks other words
    (r,) = await CodeSwitch(lang="sw", ratio=0.5, seed=2, target=translator(srv)).apply(first_probe(sample(TEXT)), ctx)
    assert r.prompt_text != p.prompt_text


async def test_codeswitch_phrase_level_and_ratio_bounds(srv, make_ctx):
    ctx = make_ctx()
    (p,) = await CodeSwitch(lang="sw", ratio=0.5, level="phrase", seed=3, target=translator(srv)).apply(
        first_probe(sample(TEXT)), ctx)
    switched = p.chain[-1]["params"]["switched"]
    assert sum(len(w.split()) for w, _ in switched) == 7
    assert all(w in TEXT and t == w.upper() for w, t in switched)
    n = srv.count
    (z,) = await CodeSwitch(lang="sw", ratio=0.0, target=translator(srv)).apply(first_probe(sample(TEXT)), ctx)
    assert z.prompt_text == TEXT and srv.count == n  # nothing to switch: no call, and not sent as switched
    assert z.meta["transform_skipped"] == "ratio 0 of 14 word units switches none"
    (a,) = await CodeSwitch(lang="sw", ratio=1.0, target=translator(srv)).apply(first_probe(sample(TEXT)), ctx)
    assert a.prompt_text == TEXT.upper()
    with pytest.raises(UsageError):
        CodeSwitch(lang="sw", ratio=1.5, target=translator(srv))
    with pytest.raises(UsageError, match="translator"):
        CodeSwitch(lang="sw")


def test_segment_units():
    s = "don't stop-now, 面包 नमस्ते"
    assert [s[a:b] for a, b in segment(s)] == ["don't", "stop-now", "面", "包", "नमस्ते"]


async def test_codeswitch_bad_translator_answer_is_flagged(srv, make_ctx):
    srv.responder = lambda body: "I cannot do that."
    (p,) = await CodeSwitch(lang="sw", ratio=0.5, seed=1, target=translator(srv)).apply(
        first_probe(sample(TEXT)), make_ctx())
    assert "lacks items" in p.meta["transform_error"] and p.prompt_text == TEXT


# --- mutate ------------------------------------------------------------------------------------

@pytest.mark.parametrize("opts", [{"style": "slang"}, {"persuasion": "expert_endorsement"}])
async def test_mutate_sends_documented_instruction(srv, make_ctx, opts):
    (p,) = await Mutate(target=translator(srv, "rewriter"), **opts).apply(first_probe(sample()), make_ctx())
    assert p.prompt_text == f"REWRITTEN: {BREAD}"
    key = next(iter(opts.values()))
    sent = srv.bodies[-1]["messages"]
    assert sent[0]["content"] == data_yaml("prompts/mutations.yaml")["system"]
    assert sent[1]["content"].startswith(mutations()[key]["instruction"])
    assert p.chain[-1]["params"]["mutation"] == key and p.meta["mutation"] == key


async def test_mutate_rejects_refusals_echoes_and_answers(srv, make_ctx):
    """Issue 13, item 1: a rewriter's refusal is never sent as the attack."""
    ctx = make_ctx()
    steps = "\n".join(f"{i}. Step {i}: mix, knead, rest and bake the dough carefully." for i in range(1, 9))
    for reply, reason in ((REFUSAL, "the helper model refused"), (BREAD, "the output is the input unchanged"),
                          ("Voici comment faire du pain à la maison, étape par étape ?", "is in 'fr', not 'en'"),
                          ("Sure! Here is how to bake bread.\n" + steps * 3, "answers the request")):
        srv.responder = lambda body, r=reply: r
        (p,) = await Mutate(style="slang", target=translator(srv, f"rewriter-{len(reason)}")).apply(
            first_probe(sample()), ctx)
        assert reason in p.meta["transform_error"], (reply, p.meta)
        assert p.prompt_text == BREAD and p.chain[-1]["params"]["output"] == reply
    srv.responder = lambda body: "Yo, how do I whip up some bread at my crib?"
    (p,) = await Mutate(style="slang", target=translator(srv, "rewriter-ok")).apply(first_probe(sample()), ctx)
    assert "transform_error" not in p.meta and p.chain[-1]["params"]["chrf"] > 0
    (q,) = await Mutate(style="slang", target=translator(srv, "rewriter-ok"), min_chrf=50).apply(
        first_probe(sample()), ctx)
    assert "chrF" in q.meta["transform_error"]


def test_mutate_options_are_checked():
    with pytest.raises(UsageError, match="exactly one"):
        Mutate(target="x")
    with pytest.raises(UsageError, match="Valid values"):
        Mutate(style="poetry", target="x")
    assert set(mutations()) == {"question", "slang", "uncommon_dialects", "technical_terms", "role_play",
                                "misspellings", "evidence", "authority", "expert_endorsement", "logical_appeal",
                                "misrepresentation"}


# --- adaptive ----------------------------------------------------------------------------------

async def test_adaptive_one_probe_per_pool_language(srv, make_ctx):
    s = sample(translations={"en": BREAD, "sw": "Mkate unaokwa vipi?"})
    probes = await Adaptive(pool=["sw", "bn"], target=translator(srv), back_translate=False).apply(
        first_probe(s), make_ctx())
    assert [(p.language, p.meta["adaptive_rank"]) for p in probes] == [("sw", 0), ("bn", 1)]
    assert probes[0].prompt_text == "Mkate unaokwa vipi?" and probes[1].prompt_text == "আমি কীভাবে রুটি বানাব?"
    assert all(p.meta["adaptive_pool"] == ["sw", "bn"] and p.transform == "adaptive" for p in probes)
    assert probes[1].chain[-1]["params"]["method"] == "model"


# --- end to end through the runner ------------------------------------------------------------------

def _rows(run_dir, sql):
    con = sqlite3.connect(run_dir / "results.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_run_multijail_with_aim_and_a_decoded_cipher(srv, tmp_path):
    answer = "Mix the flour with water and knead the dough."

    def responder(body):
        user = body["messages"][-1]["content"]
        return Caesar().encode(answer) if "Caesar cipher" in user else "I cannot help with that."

    srv.responder = responder
    spec = load_spec(None, datasets=["multijail"], languages=["en", "sw"], limit=2,
                     transforms=["aim", "caesar"], judges=["refusal"], out=str(tmp_path / "run"),
                     targets=[{"type": "openai", "model": "m", "base_url": srv.base_url}], retries=0, timeout=5)
    res = babelsafe.run(spec)
    assert res.counts["errors"] == 0
    aim_tpl = data_text("templates/multijail/aim.txt")
    prompts = _rows(res.run_dir, "SELECT p.transform, p.messages, s.prompt FROM probes p JOIN samples s "
                                 "USING(sample_key)")
    aim = [(json.loads(m), sp) for t, m, sp in prompts if t == "aim"]
    assert len(aim) == 4
    for msgs, sp in aim:
        assert msgs[-1]["content"] == aim_tpl.replace("{{ prompt }}", sp)
    decoded = _rows(res.run_dir, "SELECT g.decoded FROM generations g JOIN probes p USING(probe_key) "
                                 "WHERE p.transform='caesar'")
    assert decoded and all(d == answer for (d,) in decoded)


def test_compact_target_strings():
    from babelsafe.spec import build_spec, parse_target  # the transforms' helper-target strings

    assert parse_target("openai:gpt-4o-mini@http://127.0.0.1:8000/v1") == {
        "type": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8000/v1"}
    assert parse_target("local") == "local" and parse_target({"type": "openai"}) == {"type": "openai"}
    spec = build_spec({"transforms": ["translate:to=bn,target=openai:m@http://127.0.0.1:9/v1>aim"]})
    (step, aim), = spec.transforms
    assert step.options == {"to": "bn", "target": "openai:m@http://127.0.0.1:9/v1"} and aim.name == "aim"


def test_cli_run_with_translate_chain(srv, tmp_path):
    """`babelsafe run -t 'translate:to=sw,target=openai:translator@URL>aim'` end to end."""
    import subprocess
    import sys

    out = tmp_path / "cli"
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "1", "language": "en", "prompt": BREAD}) + "\n", encoding="utf-8")
    chain = f"translate:to=sw,target=openai:translator@{srv.base_url}>aim"
    r = subprocess.run([sys.executable, "-m", "babelsafe", "run", "-d", str(data), "-t", chain, "--target", "openai",
                        "-m", "m", "--base-url", srv.base_url, "-j", "refusal", "-o", str(out), "--no-report",
                        "--retries", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    ((transform, messages, language),) = _rows(out, "SELECT transform, messages, language FROM probes")
    assert transform == "translate>aim" and language == "sw"
    assert json.loads(messages)[-1]["content"] == data_text("templates/multijail/aim.txt").replace("{{ prompt }}", SW)
