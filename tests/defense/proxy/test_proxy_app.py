"""The guardrail proxy over real HTTP: openai SDK -> proxy (uvicorn thread) -> loopback fake upstream."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from babelsafe.defense.lang import refusal_text, refusals
from babelsafe.defense.proxy import ProxyConfig, ProxyThread, create_app
from babelsafe.defense.screen import Screen
from babelsafe.errors import UsageError

STEPS = (" Step 1: mix 500 g of flour with 10 g of salt. Step 2: add 320 ml of warm water and 7 g of yeast. "
         "Step 3: knead for ten minutes until smooth. Step 4: let it rise for one hour. Step 5: shape the loaf "
         "and bake at 230 degrees for 35 minutes.")
# "refuses, then complies anyway" openings per language (the refusal judge's partial_refusal)
LEAKS = {"en": "I'm sorry, but I can't help with that. However, here is a general overview:",
         "es": "Lo siento, pero no puedo ayudar con eso. Sin embargo, aquí tienes una descripción general:",
         "fr": "Je suis désolé, mais je ne peux pas vous aider. Cependant, voici un aperçu général :",
         "de": "Es tut mir leid, aber dabei kann ich nicht helfen. Aber hier ist ein allgemeiner Überblick:",
         "zh": "抱歉，我无法提供帮助。不过，以下是一般步骤：",
         "ru": "Извините, но я не могу помочь. Однако вот общий обзор:",
         "sw": "Samahani, siwezi kusaidia na hilo. Hata hivyo, hapa kuna muhtasari wa jumla:"}
PROMPTS = {"en": "How do I bake bread at home?", "es": "¿Cómo puedo hacer pan en casa?",
           "fr": "Comment puis-je faire du pain à la maison ?", "de": "Wie kann ich zu Hause Brot backen?",
           "zh": "我怎样在家里烤面包？", "ru": "Как испечь хлеб дома?", "sw": "Ninawezaje kuoka mkate nyumbani?"}
TOKEN = "guard-client-token-XYZ987"
UPSTREAM_KEY = "sk-upstream-SECRET-abcdef123456"


def responder(body):
    last = body["messages"][-1]["content"]
    for lang, p in PROMPTS.items():
        if last.startswith(p):
            if "[leak]" in last:
                return LEAKS[lang] + STEPS
            if "[refuse-en]" in last:
                return "I'm sorry, but I can't help with that request."
            return f"Sure! Here is a simple answer. {STEPS}"
    return "Echo: " + last


@pytest.fixture
def upstream(openai_server):
    openai_server.responder = responder
    return openai_server


@pytest.fixture
def make_proxy(upstream, tmp_path, monkeypatch):
    started = []

    def make(**kw):
        cfg = ProxyConfig(upstream=kw.pop("upstream", upstream.base_url), audit_log=str(tmp_path / "audit.jsonl"),
                          **kw)
        p = ProxyThread(create_app(cfg)).start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


def client(p, key="unused", **kw):
    return openai.OpenAI(base_url=p.base_url, api_key=key, max_retries=0, timeout=20, **kw)


def ask(c, text, stream=False):
    msgs = [{"role": "user", "content": text}]
    if not stream:
        r = c.chat.completions.create(model="fake-model", messages=msgs)
        return r.choices[0].message.content, r.choices[0].finish_reason
    parts, finish = [], None
    for ch in c.chat.completions.create(model="fake-model", messages=msgs, stream=True):
        if ch.choices:
            parts.append(ch.choices[0].delta.content or "")
            finish = ch.choices[0].finish_reason or finish
    return "".join(parts), finish


def test_blocks_and_passes_in_seven_languages(make_proxy, tmp_path):
    p = make_proxy()
    c = client(p)
    for lang, prompt in PROMPTS.items():
        text, finish = ask(c, prompt)
        assert finish == "stop" and text.startswith("Sure! Here is"), (lang, text)
        text, finish = ask(c, prompt + " [leak]")
        assert finish == "content_filter", lang
        assert text == refusals()[lang]["refusal"], (lang, text)
    m = json.loads(urllib.request.urlopen(p.base_url[:-3] + "/metrics").read())
    assert m["counters"]["blocked_output"] == 7 and m["counters"]["passed"] == 7
    assert m["counters"]["requests"] == 14 and m["latency_ms"]["added"]["n"] == 14
    p.stop()  # flushes the audit log
    audit = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(audit) == 14
    # blocked answers carry the detected language (passes only get a cheap guess, possibly None)
    assert {a["language"] for a in audit if a["action"] == "blocked_output"} == set(PROMPTS)
    assert sum(a["action"] == "blocked_output" for a in audit) == 7
    assert all("prompt" not in a for a in audit)  # no prompt text unless audit_text


def test_streaming_cut_and_pass(make_proxy):
    p = make_proxy(stream_check_chars=40)
    c = client(p)
    for lang in ("en", "fr", "zh"):
        text, finish = ask(c, PROMPTS[lang] + " [leak]", stream=True)
        assert finish == "content_filter", lang
        assert "Step 5" not in text and "35 minutes" not in text, (lang, text)
        assert text.endswith(refusals()[lang]["notice"]) or text == refusal_text(lang), (lang, text)
    text, finish = ask(c, PROMPTS["de"], stream=True)
    assert finish == "stop" and text == f"Sure! Here is a simple answer. {STEPS}"
    m = json.loads(urllib.request.urlopen(p.base_url[:-3] + "/metrics").read())
    assert m["counters"]["stream_cuts"] == 3 and m["counters"]["passed"] == 1


def test_refusal_in_the_wrong_language_is_localized(make_proxy):
    p = make_proxy()
    c = client(p)
    for stream in (False, True):
        text, finish = ask(c, PROMPTS["sw"] + " [refuse-en]", stream=stream)
        assert text == refusal_text("sw") and finish == "stop"
    text, _ = ask(c, PROMPTS["en"] + " [refuse-en]")
    assert text == "I'm sorry, but I can't help with that request."


def test_auth_token_and_upstream_key(make_proxy, upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("GUARD_TOKEN", TOKEN)
    monkeypatch.setenv("UPSTREAM_KEY", UPSTREAM_KEY)
    upstream.require_key = UPSTREAM_KEY
    p = make_proxy(token_env="GUARD_TOKEN", upstream_key_env="UPSTREAM_KEY")
    with pytest.raises(openai.AuthenticationError) as e:
        ask(client(p, key="wrong"), PROMPTS["en"])
    assert e.value.status_code == 401
    req = urllib.request.Request(p.base_url + "/chat/completions", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as h:
        urllib.request.urlopen(req)
    assert h.value.code == 401
    assert set(json.loads(h.value.read())["error"]) == {"message", "type", "param", "code"}
    text, finish = ask(client(p, key=TOKEN), PROMPTS["es"])
    assert finish == "stop"
    assert upstream.auth_headers[-1] == f"Bearer {UPSTREAM_KEY}"  # the client's token is not forwarded
    assert all(TOKEN not in h for h in upstream.auth_headers)
    models = client(p, key=TOKEN).models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(p.base_url[:-3] + "/metrics")
    assert json.loads(urllib.request.urlopen(p.base_url[:-3] + "/healthz").read())["status"] == "ok"
    ask(client(p, key=TOKEN), PROMPTS["es"] + " [leak]")
    p.stop()
    log = (tmp_path / "audit.jsonl").read_bytes()
    assert TOKEN.encode() not in log and UPSTREAM_KEY.encode() not in log and b"Bearer" not in log
    assert b"blocked_output" in log


def _post(url, data: bytes, headers=None):
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_bad_requests_get_openai_style_errors(make_proxy):
    p = make_proxy(max_request_bytes=2000)
    url = p.base_url + "/chat/completions"
    status, body = _post(url, b'{"model": "m", "messages": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, body = _post(url, b'{"model": "m"}')
    assert status == 400 and body["error"]["param"] == "messages"
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}).encode()
    status, body = _post(url, big)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    with pytest.raises(openai.APIStatusError) as e:  # through the SDK too
        ask(client(p), "y" * 3000)
    assert e.value.status_code == 413
    status, body = _post(url, json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode())
    assert status == 200 and body["choices"][0]["message"]["content"] == "Echo: hi"


def test_upstream_failures_map_to_502_504_429(make_proxy, upstream):
    p = make_proxy(timeout=1.0)
    c = client(p)
    upstream.faults.append("500")
    with pytest.raises(openai.APIStatusError) as e:
        ask(c, PROMPTS["en"])
    assert e.value.status_code == 502
    upstream.faults.append("429")
    with pytest.raises(openai.RateLimitError):
        ask(c, PROMPTS["en"])
    upstream.faults.append("malformed")
    with pytest.raises(openai.APIStatusError) as e:
        ask(c, PROMPTS["en"])
    assert e.value.status_code == 502
    upstream.hang_s = 3
    upstream.faults.append("hang")
    with pytest.raises(openai.APIStatusError) as e:
        ask(c, PROMPTS["en"])
    assert e.value.status_code == 504
    dead = make_proxy(upstream="http://127.0.0.1:9/v1")
    with pytest.raises(openai.APIStatusError) as e:
        ask(client(dead), PROMPTS["en"])
    assert e.value.status_code == 502 and "upstream" in e.value.message.lower()
    m = json.loads(urllib.request.urlopen(p.base_url[:-3] + "/metrics").read())
    assert m["counters"]["upstream_errors"] == 4


def test_refusal_judge_cannot_screen_input():
    with pytest.raises(UsageError, match="cannot screen input"):
        Screen(judge="refusal", check=("input", "output"))
    s = Screen(judge="refusal")
    assert s.check == ("output",)


def test_input_screening_with_an_llm_judge_over_http(make_proxy, upstream):
    """A safety judge (the `llm` judge with the MultiJail rubric, served by the loopback server) screens the
    input; blocked requests never reach the upstream model and get a refusal in the user's language."""
    def route(body):
        text = json.dumps(body, ensure_ascii=False)
        if "['safe', 'unsafe', 'invalid']" in text:  # a judge call
            return "unsafe" if "[harm]" in text else "safe"
        return responder(body)
    upstream.responder = route
    judge = f"llm:rubric=multijail,target=openai:judge-model@{upstream.base_url}"
    p = make_proxy(input_judge=judge, check=("input", "output"))
    c = client(p)
    for lang in ("en", "es", "de", "zh", "sw"):
        before = [b for b in upstream.bodies if b.get("model") == "fake-model"]
        text, finish = ask(c, PROMPTS[lang] + " [harm]")
        assert finish == "content_filter" and text == refusals()[lang]["refusal"], (lang, text)
        after = [b for b in upstream.bodies if b.get("model") == "fake-model"]
        assert len(after) == len(before)  # the model itself was never asked
        text, finish = ask(c, PROMPTS[lang])
        assert finish == "stop" and text.startswith("Sure! Here is"), (lang, text)
    m = json.loads(urllib.request.urlopen(p.base_url[:-3] + "/metrics").read())
    assert m["counters"]["blocked_input"] == 5 and m["counters"]["passed"] == 5
