"""A deterministic fixture run written through the store's public write API: two targets, two judges
(refusal and safety vocabularies), five languages over three tiers, benign and harmful prompts, errors,
content filters, judge errors, unjudged answers, attack chains (translate>aim, aim), PCJailbreak pairs,
a SORRY-Bench-taxonomy dataset and a CoSA safety config: every panel of the summary has something to show.

Used by the golden-summary test (tests/metrics/test_metrics_golden.py): summary.json of this run must
not change when the code behind it is reshaped. Prompts are mild placeholders (no harmful content).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from babelsafe.types import Generation, Probe, Sample, Verdict

LANGS = ("en", "zh", "bn", "sw", "jv")
TARGETS = ("model-a", "model-b")
REFUSAL = ("full_compliance", "full_refusal", "partial_refusal", "invalid")
SAFETY = ("safe", "unsafe", "invalid")
CATS = ("crime", "hate", "self_harm", "privacy")
SORRY_CATS = ("1", "2", "7", "19")


def _probe(s: Sample, chain: list[dict[str, Any]], meta: dict[str, Any] | None = None,
           suffix: str = "") -> Probe:
    text = s.prompt + suffix
    return Probe(sample=s, messages=[{"role": "user", "content": text}], language=s.language, chain=chain,
                 meta=dict(meta or {}))


def write_fixture_run(store: Any, seed: int = 11) -> None:
    """Fill an open Store (babelsafe's writer) with the fixture run."""
    rng = random.Random(seed)
    store.write_meta("spec", {"judges": [{"name": "refusal", "options": {}}, {"name": "guard", "options": {}}],
                              "seed": seed, "tiers": {"jv": "low"}, "api_key": "sk-should-not-appear",
                              "targets": [{"type": "openai", "model": "a", "api_key_env": "KEY"}]})
    store.write_meta("babelsafe_version", "fixture")
    store.write_meta("safety_config", {"allowed": ["privacy", "crime"]})
    store.write_meta("interrupted", "0")
    for t in TARGETS:
        store.write_component("target", t, {"identity": {"model": t, "api_key": "sk-x"},
                                            "params": {"temperature": 0.0, "max_tokens": 64}})
    store.write_component("judge", "refusal", {"options": {}, "labels": list(REFUSAL)})
    store.write_component("judge", "guard", {"options": {"token": "t"}, "labels": list(SAFETY)})
    store.write_component("transform", "translate>aim", {"steps": [{"name": "translate"}, {"name": "aim"}]})
    chains: list[tuple[list[dict[str, Any]], dict[str, Any] | None]] = [
        ([], None), ([{"name": "translate", "params": {"back_translation": "bt", "chrf": 61.5}}, {"name": "aim"}], None),
        ([{"name": "aim"}], None)]
    n = 0
    for ds, n_items, cats in (("multijail", 9, CATS), ("sorry-bench", 5, SORRY_CATS), ("xstest", 4, ("benign",))):
        for i in range(n_items):
            benign = ds == "xstest" or (ds == "multijail" and i == 8)
            for lang in LANGS:
                if ds == "sorry-bench" and lang not in ("en", "bn"):
                    continue
                meta: dict[str, Any] = {"label": "benign" if benign else "harmful"}
                if ds == "sorry-bench":
                    meta = {"raw_category": cats[i % len(cats)]}  # unlabelled: harmful by default
                s = Sample(dataset=ds, id=f"{ds[:2]}{i}", language=lang, category=cats[i % len(cats)],
                           prompt=f"Placeholder question {i} in {lang}", meta=meta)
                store.write_sample(s)
                probes = [_probe(s, c, m) for c, m in chains[: (3 if ds == "multijail" else 1)]]
                if ds == "multijail" and i < 4:
                    for group in ("privileged", "marginalised"):
                        probes.append(_probe(s, [{"name": "pcjailbreak", "params": {"group": group}}],
                                             {"pc_group": group, "pc_pair": f"p{i % 2}", "pc_axis": "x"},
                                             suffix=f" [{group}]"))
                for p in probes:
                    store.write_probe(p)
                    for t in TARGETS:
                        n += 1
                        r = rng.random()
                        if r < 0.06:
                            g = Generation(text=None, outcome="error", error="upstream 503",
                                           error_kind=rng.choice(["server", "timeout"]), latency_s=1.0)
                        elif r < 0.1:
                            g = Generation(text="", outcome="content_filter", finish_reason="content_filter",
                                           prompt_tokens=9, completion_tokens=0, latency_s=0.2)
                        else:
                            g = Generation(text=f"answer {n}", finish_reason="stop", prompt_tokens=10 + n % 7,
                                           completion_tokens=20 + n % 11, latency_s=0.1 + (n % 5) / 10,
                                           cached=n % 9 == 0)
                        ck = f"ck{n}"
                        store.write_generation(p.key, t, ck, g)
                        store.write_call(ck, t, "target", {"messages": p.messages}, g)
                        if g.outcome != "ok":
                            continue
                        u = rng.random()
                        if u < 0.05:
                            continue  # unjudged
                        if u < 0.08:
                            store.write_verdict(p.key, t, Verdict("refusal", "judge_error", error="boom"))
                        else:
                            extra: dict[str, Any] = {}
                            if rng.random() < 0.3:
                                extra = {"helpfulness": rng.choice([0.2, 0.8, 4]),
                                         "categories": rng.sample(list(CATS), k=rng.randint(0, 2))}
                            if rng.random() < 0.2:
                                extra["back_translation"] = "an English rendering"
                            store.write_verdict(p.key, t, Verdict("refusal", rng.choice(REFUSAL),
                                                                  score=round(rng.random(), 3),
                                                                  rationale="why", extra=extra))
                        if rng.random() < 0.9:
                            store.write_verdict(p.key, t, Verdict("guard", rng.choice(SAFETY + ("unsafe",))))
    store.write_call("aux1", "translator", "translate", {"messages": []},
                     Generation(text="x", prompt_tokens=5, completion_tokens=7))


def build_fixture_run(run_dir: Path, store_cls: Any) -> Path:
    """Write the fixture run's results.sqlite into run_dir with the given Store class; return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.sqlite"
    with store_cls(path) as st:
        write_fixture_run(st)
    return path
