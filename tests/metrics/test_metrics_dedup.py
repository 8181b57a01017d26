"""No pseudo-replication: identical requests (same target, same messages and parameters: one cache key)
are one observation in every rate, with the number folded shown (issue 13, item 3). Real runs against
the loopback server on MultiJail's parallel human translations."""
from __future__ import annotations

import babelsafe
from babelsafe.spec import load_spec


def _spec(srv, tmp_path, transforms, **kw):
    return load_spec(None, datasets=["multijail"], languages=["en", "bn", "zh"], limit=2, transforms=transforms,
                     judges=["refusal"], out=str(tmp_path / "run"), retries=0, timeout=5,
                     targets=[{"type": "openai", "model": "m", "base_url": srv.base_url}], **kw)


def test_translate_into_one_language_from_three_is_two_observations(openai_server, tmp_path):
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    res = babelsafe.run(_spec(openai_server, tmp_path, ["translate:to=bn"]))
    s = res.summary
    assert s["counts"]["probes"] == 6 and openai_server.count == 2  # 2 items x 3 source languages -> 2 prompts
    tr = s["by_transform"]["translate"]
    assert tr["n"] == 2 and tr["duplicates"] == 4
    assert s["attack_success"]["translate"]["n"] == 2
    assert s["by_language"]["bn"]["n"] == 2 and s["overall"]["n"] == 2
    assert s["counts"]["completed"] == 6  # generations: every probe got its (shared) answer


def test_adaptive_counts_distinct_requests(openai_server, tmp_path):
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    res = babelsafe.run(_spec(openai_server, tmp_path, ["adaptive"]))
    s = res.summary
    assert s["counts"]["probes"] == 54 and openai_server.count == 18
    assert s["attack_success"]["adaptive"]["n"] == 18 and s["by_transform"]["adaptive"]["duplicates"] == 36


def test_a_run_without_repeats_is_unchanged(openai_server, tmp_path):
    openai_server.responder = lambda body: "I'm sorry, but I can't help with that."
    s = babelsafe.run(_spec(openai_server, tmp_path, ["none"])).summary
    assert s["overall"]["n"] == 6 and "duplicates" not in s["overall"]
