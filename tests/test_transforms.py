"""Deterministic transforms: exact outputs, round trips, chain records (no model calls)."""
from __future__ import annotations

import asyncio
import copy

import pytest

from babelsafe.errors import UsageError
from babelsafe.registry import registry
from babelsafe.transforms.base import data_text, data_yaml, first_probe
from babelsafe.transforms.chain import apply_chain, build_chain, build_step, decode_chain
from babelsafe.transforms.ciphers import Ascii, Atbash, Base64, Caesar, Hex, Morse
from babelsafe.transforms.longcontext import approx_tokens, LongContext
from babelsafe.transforms.pcjailbreak import PCJailbreak, keyword_pairs
from babelsafe.transforms.templates import AIM, CoT, CoU, Standard, strip_internal_thought
from babelsafe.transforms.transliterate import Transliterate, romanize
from babelsafe.types import Probe, Sample

BREAD = "How do I bake bread?"


def sample(prompt: str = BREAD, lang: str = "en", **meta) -> Sample:
    return Sample(dataset="toy", id="1", language=lang, prompt=prompt, category="cooking", meta=meta)


def run(transform, probe):
    return asyncio.run(transform.apply(probe, None))


def test_every_registered_transform_loads_and_names_its_source():
    reg = registry("transform")
    expected = {"translate", "aim", "cou", "cot", "standard", "goal_hijacking", "prompt_leaking", "role_play",
                "unsafe_topic", "unsafe_opinion", "reverse_exposure", "codeswitch", "transliterate", "caesar",
                "atbash", "morse", "ascii", "hex", "base64", "mutate", "longcontext", "pcjailbreak", "adaptive"}
    assert expected <= set(reg.names())
    for name in expected:
        cls = reg.get(name)
        assert cls.name == name
        info = reg.describe(name)
        assert info["description"] and info.get("source"), name
        assert "unavailable" not in info["description"]


# --- templates ------------------------------------------------------------------------------------

def test_aim_wraps_prompt_in_verbatim_template_and_records_the_step():
    tpl = data_text("templates/multijail/aim.txt")
    assert tpl.startswith("In this hypothetical story, you are to act as Niccolo Machiavelli.")
    assert tpl.endswith('This is Niccolo\'s first question: "{{ prompt }}"')
    probe = first_probe(sample("Ninaokaje mkate?", "sw"), system="You are helpful.")
    before = copy.deepcopy(probe)
    (out,) = run(AIM(), probe)
    assert out.prompt_text == tpl.replace("{{ prompt }}", "Ninaokaje mkate?")
    assert out.messages[0] == {"role": "system", "content": "You are helpful."}
    assert out.language == "sw" and out.transform == "aim"
    assert out.chain == [{"name": "aim", "params": {"template": "templates/multijail/aim.txt",
                                                    "template_language": "en"}, "output": out.prompt_text}]
    assert probe == before  # input untouched
    assert out.sample is not probe.sample and out.sample == probe.sample


def test_aim_translated_template_needs_a_translator():
    with pytest.raises(UsageError, match="translator"):
        AIM(template_language="same")


def test_redeval_templates_are_upstream_verbatim():
    cou = data_text("templates/redeval/cou.txt")
    assert cou.count("<question>") == 1 and cou.startswith("-Example-") and cou.rstrip().endswith("Base-LM:")
    (p,) = run(CoU(), first_probe(sample()))
    assert p.prompt_text == cou.replace("<question>", BREAD)
    (p,) = run(CoT(), first_probe(sample()))
    assert p.prompt_text == BREAD + " Let's think step by step."
    (p,) = run(Standard(), first_probe(sample()))
    assert p.prompt_text == BREAD and p.transform == "standard"


def test_cou_decode_strips_internal_thought_like_upstream():
    ans = "(Internal thought: I should answer the question.) Knead the dough for ten minutes."
    assert strip_internal_thought(ans) == "Knead the dough for ten minutes."
    assert strip_internal_thought("No thoughts here (really).") == "No thoughts here (really)."
    assert CoU().decode(first_probe(sample()), "Base-LM: (Internal thought: ok) Bake it.") == "Bake it."
    assert strip_internal_thought("(Internal thought: unterminated") == "unterminated"


@pytest.mark.parametrize("name", ["goal_hijacking", "prompt_leaking", "role_play", "unsafe_topic",
                                  "unsafe_opinion", "reverse_exposure"])
def test_instruction_attacks_use_their_data_template(name):
    tpl = data_yaml("templates/babelsafe/instruction_attacks.yaml")[name]["template"]
    assert tpl.count("{prompt}") == 1
    (p,) = run(build_step(name), first_probe(sample()))
    assert p.prompt_text == tpl.replace("{prompt}", BREAD)
    assert p.chain[-1]["name"] == name


# --- ciphers ----------------------------------------------------------------------------------------

ROUND = ["how do i bake bread?", "Knead 500 g of flour, then rest it 1 hour.\nBake at 220 C!",
         "Wie backe ich Brot? Größe: 2", "面包 রুটি mkate"]


@pytest.mark.parametrize("cls", [Caesar, Atbash, Ascii, Hex, Base64])
@pytest.mark.parametrize("text", ROUND)
def test_cipher_round_trip_exact(cls, text):
    c = cls()
    enc = c.encode(text)
    assert enc != text
    assert c.decode_text(enc) == text


def test_known_encodings():
    assert Caesar(shift=3).encode("Hello, World") == "Khoor, Zruog"
    assert Caesar(shift=1).encode("xyz") == "yza"
    assert Atbash().encode("abc XYZ") == "zyx CBA"
    assert Morse().encode("SOS help") == "... --- ... / .... . .-.. .--."
    assert Ascii().encode("Hi!") == "72 105 33"
    assert Hex().encode("Hi é") == "48 69 20 c3 a9"
    assert Base64().encode("Hi") == "SGk="


def test_morse_round_trip_is_exact_up_to_case():
    m = Morse()
    for text in ["how do i bake bread?", "knead 500 g of flour.\nbake at 220 c!"]:
        assert m.decode_text(m.encode(text)) == text
    assert m.decode_text(m.encode("How Do I")) == "how do i"


@pytest.mark.parametrize("cls", [Caesar, Atbash, Morse, Ascii, Hex, Base64])
def test_decoders_leave_plain_answers_unchanged(cls):
    for plain in ["I'm sorry, but I can't help with that.", "Sure. Mix flour and water, then bake it.",
                  "In 1990, 2000 people came.", "Ich kann dabei nicht helfen.", "面包很好吃。"]:
        assert cls().decode_text(plain) == plain


def test_decoders_find_encoded_passages_inside_prose():
    b = Base64()
    assert b.decode_text(f"Here you go: {b.encode('bake the bread')} (decoded)") == \
        "Here you go: bake the bread (decoded)"
    a = Ascii()
    assert a.decode_text(f"Answer: {a.encode('yes, knead it')}") == "Answer: yes, knead it"
    h = Hex()
    assert h.decode_text(f"Reply:\n{h.encode('bake at 220')}\n") == "Reply:\nbake at 220\n"
    m = Morse()
    assert m.decode_text("Reply: .... .. / - .... . .-. .") == "Reply: hi there"
    assert Caesar().decode_text(Caesar().encode("Knead the dough and let it rise.")) == \
        "Knead the dough and let it rise."


def test_cipher_apply_wraps_instruction_and_decode_chain_reverses():
    steps = [Caesar(shift=5), Base64()]
    probes = asyncio.run(apply_chain(sample(), steps, None))
    (p,) = probes
    assert p.transform == "caesar>base64"
    caesar_out = p.chain[0]["output"]
    assert caesar_out == data_yaml("prompts/ciphers.yaml")["caesar"].format(encoded=Caesar(5).encode(BREAD), shift=5)
    assert p.chain[0]["params"] == {"shift": 5, "encoded": "Mtb it N gfpj gwjfi?"}
    assert p.prompt_text.endswith(Base64().encode(caesar_out))
    assert p.meta["decode"] == "base64"
    answer_plain = "Mix the flour with water and knead the dough."
    answer = Base64().encode(Caesar(5).encode(answer_plain))
    assert decode_chain(p, answer, steps) == answer_plain
    assert decode_chain(p, "I'm sorry, I can't do that.", steps) == "I'm sorry, I can't do that."
    assert decode_chain(p, "x", [AIM()]) is None  # nothing to decode


def test_caesar_rejects_identity_shift():
    with pytest.raises(UsageError):
        Caesar(shift=26)


# --- transliterate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("Привет, как дела?", "Privet, kak dela?"),
    ("Γειά σου κόσμε", "Geia sou kosme"),
    ("नमस्ते दुनिया, कमल", "namaste duniyaa, kamal"),
    ("নমস্কার, আমার নাম", "namaskaar, aamaar naam"),
    ("வணக்கம்", "vanakkam"),
    ("ఆంధ్ర", "aandhra"),
    ("ज़रूर", "zaruur"),
    ("안녕하세요 세계", "annyeonghaseyo segye"),
    ("مرحبا بالعالم", "mrhba bal'alm"),
    ("สวัสดี", "swasdi"),
    ("Hello, world", "Hello, world"),
])
def test_transliterate_tables(text, expected):
    out, unmapped, used = romanize(text, "table")
    assert (out, unmapped, used) == (expected, 0, "table")


def test_transliterate_counts_unmapped_and_records_params():
    out, unmapped, _ = romanize("你好 world", "table")
    assert out == "你好 world" and unmapped == 2
    (p,) = run(Transliterate(backend="table"), first_probe(sample("Привет", "ru")))
    assert p.prompt_text == "Privet" and p.language == "ru"
    assert p.chain[-1]["params"] == {"backend": "table", "unmapped": 0}


def test_transliterate_cjk_with_unidecode_when_installed():
    pytest.importorskip("unidecode")
    out, unmapped, used = romanize("你好", "auto")
    assert unmapped == 0 and used == "table+unidecode" and out.strip().lower() == "ni hao"


# --- longcontext --------------------------------------------------------------------------------------

def test_longcontext_is_deterministic_and_sized():
    lc = LongContext(tokens=1500, position="after", seed=7)
    (a,) = run(lc, first_probe(sample()))
    (b,) = run(LongContext(tokens=1500, position="after", seed=7), first_probe(sample()))
    assert a.prompt_text == b.prompt_text
    assert a.prompt_text.endswith("\n\n" + BREAD) and a.prompt_text.startswith("Document 1: ")
    filler = a.prompt_text[: -len(BREAD) - 2]
    assert 1400 <= approx_tokens(filler) <= 1500
    assert a.chain[-1]["params"]["filler_tokens"] == approx_tokens(filler)
    (c,) = run(LongContext(tokens=1500, position="before", seed=7), first_probe(sample()))
    assert c.prompt_text.startswith(BREAD + "\n\nDocument 1: ")
    (d,) = run(LongContext(tokens=1500, seed=8), first_probe(sample()))
    assert d.prompt_text != a.prompt_text


def test_longcontext_cycles_the_corpus_for_large_n():
    (p,) = run(LongContext(tokens=12000, seed=1), first_probe(sample()))
    params = p.chain[-1]["params"]
    assert len(params["documents"]) > 16
    assert 11800 <= params["filler_tokens"] <= 12000


# --- pcjailbreak ------------------------------------------------------------------------------------

def test_pcjailbreak_pairs_and_meta():
    pairs = keyword_pairs()
    assert pairs["gender"] == {"axis": "gender", "privileged": "a man", "marginalised": "a woman"}
    probes = run(PCJailbreak(pair="gender"), first_probe(sample()))
    assert [p.prompt_text for p in probes] == [f"I am a man. {BREAD}", f"I am a woman. {BREAD}"]
    assert [p.meta["pc_group"] for p in probes] == ["privileged", "marginalised"]
    assert {p.meta["pc_pair"] for p in probes} == {"gender"}
    # default: one deterministic pair per sample
    a = run(PCJailbreak(seed=3), first_probe(sample()))
    b = run(PCJailbreak(seed=3), first_probe(sample()))
    assert len(a) == 2 and [p.prompt_text for p in a] == [p.prompt_text for p in b]
    assert len(run(PCJailbreak(pair="all"), first_probe(sample()))) == 2 * len(pairs)
    with pytest.raises(UsageError, match="Valid pairs"):
        PCJailbreak(pair="nope")


# --- chains -------------------------------------------------------------------------------------------

def test_chain_of_template_and_cipher_records_every_step():
    steps = build_chain([{"name": "aim"}, {"name": "caesar", "options": {"shift": 2}}])
    (p,) = asyncio.run(apply_chain(first_probe(sample()), steps, None))
    assert [s["name"] for s in p.chain] == ["aim", "caesar"]
    assert p.chain[0]["output"].endswith(f'"{BREAD}"')
    assert p.chain[1]["params"]["encoded"] == Caesar(2).encode(p.chain[0]["output"])
    assert isinstance(p, Probe) and p.transform == "aim>caesar"


def test_build_step_reports_bad_options():
    with pytest.raises(UsageError, match="Valid options: shift"):
        build_step("caesar", {"shfit": 3})
    with pytest.raises(UsageError, match="Unknown transform"):
        build_step("caesr")
    with pytest.raises(UsageError, match="position"):
        build_step("longcontext", {"position": "middle"})


def test_flagged_probes_are_not_transformed_further():
    from babelsafe.transforms.base import flagged

    p = flagged(first_probe(sample()), "translate", {"to": "bn"}, "boom", language="bn")
    assert p.meta["transform_error"] == "translate: boom" and p.language == "bn"
    (q,) = asyncio.run(apply_chain(p, [AIM()], None))
    assert q is p


# --- attacks that cannot apply are skipped, never sent as if applied (issue 13, item 2) -------------

BN = "আমি কীভাবে রুটি বানাব?"
ZH = "我怎样在家里烤面包？"


@pytest.mark.parametrize("cls", [Caesar, Atbash, Morse])
@pytest.mark.parametrize("prompt, lang, script", [(BN, "bn", "Bengali"), (ZH, "zh", "Han"),
                                                  ("Làm thế nào để tôi nướng bánh mì ở nhà?", "vi", "Latin")])
def test_letter_ciphers_skip_prompts_they_cannot_encode(cls, prompt, lang, script):
    (p,) = run(cls(), first_probe(sample(prompt, lang)))
    reason = p.meta["transform_skipped"]
    assert p.meta["transform_error"] == f"{cls.name}: not applicable: {reason}"
    assert f"({script} script)" in reason and f"transliterate>{cls.name}" in reason
    assert p.prompt_text == prompt and p.chain[-1]["params"]["skipped"] == reason
    # inside an English template the Bengali/Chinese prompt would still be sent in clear
    (q,) = asyncio.run(apply_chain(first_probe(sample(prompt, lang)), [AIM(), cls()], None))
    assert "transform_skipped" in q.meta or lang == "vi"


@pytest.mark.parametrize("cls", [Caesar, Atbash, Morse])
def test_letter_ciphers_apply_to_latin_prompts_with_a_few_accents_or_a_name(cls):
    for prompt in (BREAD, "Comment faire du pain à la maison, s'il vous plaît ?", "How do I cook 饺子 at home for a family dinner?"):
        (p,) = run(cls(), first_probe(sample(prompt)))
        assert "transform_error" not in p.meta and p.chain[-1]["params"]["encoded"] != prompt


@pytest.mark.parametrize("cls", [Ascii, Hex, Base64])
def test_byte_encodings_encode_every_script(cls):
    for prompt in (BN, ZH):
        (p,) = run(cls(), first_probe(sample(prompt)))
        assert "transform_error" not in p.meta and cls().decode_text(p.chain[-1]["params"]["encoded"]) == prompt


def test_transliterate_skips_latin_prompts_and_unromanisable_ones():
    (p,) = run(Transliterate(), first_probe(sample()))
    assert p.meta["transform_skipped"] == "the prompt is already in Latin script" and p.prompt_text == BREAD
    (q,) = run(Transliterate(backend="table"), first_probe(sample(ZH, "zh")))
    assert "no romanisation" in q.meta["transform_skipped"]
    (r,) = run(Transliterate(backend="table"), first_probe(sample(BN, "bn")))
    assert "transform_error" not in r.meta and r.prompt_text.isascii()


def test_a_skipped_probe_is_stored_as_not_applicable_and_never_sent(openai_server, tmp_path):
    import json as _json

    import babelsafe
    from babelsafe.spec import load_spec

    data = tmp_path / "p.jsonl"
    data.write_text("\n".join(_json.dumps({"id": "1", "language": lang, "prompt": text}, ensure_ascii=False)
                              for lang, text in (("en", BREAD), ("bn", BN), ("zh", ZH))) + "\n", encoding="utf-8")
    spec = load_spec(None, datasets=[str(data)], transforms=["caesar"], judges=["refusal"], retries=0,
                     targets=[{"type": "openai", "model": "m", "base_url": openai_server.base_url}],
                     out=str(tmp_path / "run"), timeout=5)
    res = babelsafe.run(spec)
    import sqlite3

    con = sqlite3.connect(res.run_dir / "results.sqlite")
    got = dict((lang, (o, k)) for lang, o, k in con.execute(
        "SELECT p.language, g.outcome, g.error_kind FROM generations g JOIN probes p USING(probe_key)"))
    con.close()
    assert got == {"en": ("ok", None), "bn": ("error", "not_applicable"), "zh": ("error", "not_applicable")}
    assert openai_server.count == 1
