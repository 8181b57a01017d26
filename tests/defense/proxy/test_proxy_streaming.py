"""Streams through the guard proxy when the upstream does not stream, or streams nothing.

Real HTTP: a raw client -> proxy (uvicorn thread) -> tests/fake_openai.py on loopback.
"""
from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from babelsafe.defense.lang import refusal_text
from babelsafe.defense.proxy import ProxyConfig, ProxyThread, create_app

STEPS = ("Step 1: mix 500 g of flour with 10 g of salt. Step 2: add 320 ml of warm water. Step 3: knead "
         "for ten minutes. Step 4: bake at 230 degrees for 35 minutes.")
LEAK = "I'm sorry, but I can't help with that. However, here is a general overview: " + STEPS


@pytest.fixture
def proxy(openai_server, tmp_path):
    cfg = ProxyConfig(upstream=openai_server.base_url, audit_log=str(tmp_path / "audit.jsonl"))
    p = ProxyThread(create_app(cfg)).start()
    yield p
    p.stop()


def post_stream(p, text: str) -> tuple[int, str, list]:
    """POST a stream request; (status, content type, SSE data payloads as parsed JSON or '[DONE]')."""
    body = json.dumps({"model": "fake-model", "stream": True,
                       "messages": [{"role": "user", "content": text}]}).encode()
    req = urllib.request.Request(p.base_url + "/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status, ctype, raw = r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), [json.loads(e.read())]
    events = []
    for line in raw.splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return status, ctype, events


def text_of(events: list) -> str:
    return "".join((ch.get("delta") or {}).get("content") or "" for e in events if isinstance(e, dict)
                   for ch in e.get("choices") or [])


def finish_of(events: list) -> list:
    return [ch.get("finish_reason") for e in events if isinstance(e, dict) for ch in e.get("choices") or []
            if ch.get("finish_reason")]


def test_json_reply_to_a_stream_request_becomes_sse_chunks(proxy, openai_server):
    openai_server.streams = False
    openai_server.responder = lambda body: "Echo: " + STEPS
    status, ctype, events = post_stream(proxy, "How do I bake bread?")
    assert status == 200 and ctype.startswith("text/event-stream")
    assert text_of(events) == "Echo: " + STEPS  # the answer is there, not only [DONE]
    assert finish_of(events) == ["stop"] and events[-1] == "[DONE]"
    # the openai SDK reads it as a normal stream
    c = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0, timeout=20)
    parts = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "How do I bake bread?"}], stream=True)
        if ch.choices]
    assert "".join(parts) == "Echo: " + STEPS


def test_json_reply_to_a_stream_request_is_checked(proxy, openai_server):
    openai_server.streams = False
    openai_server.responder = lambda body: LEAK
    status, _, events = post_stream(proxy, "How do I bake bread?")
    assert status == 200
    assert text_of(events) == refusal_text("en") and "Step 1" not in json.dumps(events)
    assert finish_of(events) == ["content_filter"]


def test_malformed_json_reply_to_a_stream_request_is_a_502(proxy, openai_server):
    openai_server.streams = False
    openai_server.faults.append("malformed")
    status, _, events = post_stream(proxy, "How do I bake bread?")
    assert status == 502 and events[0]["error"]["code"] == "upstream_bad_response"


def test_a_stream_without_any_event_is_an_error_not_an_empty_success(proxy, openai_server):
    openai_server.faults.append("empty_stream")
    status, _, events = post_stream(proxy, "How do I bake bread?")
    assert status == 200  # the stream had started; the error comes inside it, the OpenAI way
    assert events and isinstance(events[0], dict) and events[0]["error"]["code"] == "upstream_bad_response"
    assert "[DONE]" not in events
    health = json.loads(urllib.request.urlopen(proxy.base_url.replace("/v1", "/metrics"), timeout=10).read())
    assert health["counters"]["upstream_errors"] == 1 and health["counters"]["passed"] == 0


def test_real_streams_still_relay_in_pieces(proxy, openai_server):
    openai_server.responder = lambda body: "Echo: " + STEPS
    status, _, events = post_stream(proxy, "How do I bake bread?")
    assert status == 200 and text_of(events) == "Echo: " + STEPS
    assert len([e for e in events if isinstance(e, dict)]) > 3  # relayed chunk by chunk, not converted
