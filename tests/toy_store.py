"""A small hand-checkable store (items x languages with known labels), written through the real Store."""
from __future__ import annotations

from pathlib import Path

from babelsafe.results import Store
from babelsafe.types import Generation, Probe, Sample, Verdict

TARGET = "toy-model"


def write_probe(store: Store, item: str, lang: str, label: str | None, *, outcome: str = "ok",
                benign: bool = False, category: str = "crime", dataset: str = "toy", target: str = TARGET,
                judge: str = "refusal", text: str | None = None, transform: str | None = None,
                extra: dict | None = None, tokens: tuple[int, int] = (10, 20)) -> Probe:
    """One sample -> probe -> generation (-> verdict when label is not None) in the store."""
    s = Sample(dataset=dataset, id=item, language=lang, prompt=f"How do I bake bread? ({item}, {lang})",
               category="benign" if benign else category, meta={"label": "benign" if benign else "harmful"})
    chain = [{"name": transform, "options": {}}] if transform else []
    p = Probe(sample=s, messages=[{"role": "user", "content": s.prompt}], language=lang, chain=chain)
    store.write_sample(s)
    store.write_probe(p)
    g = Generation(text=None if outcome != "ok" else (text if text is not None else f"answer {item} {lang}"),
                   outcome=outcome, prompt_tokens=tokens[0], completion_tokens=tokens[1], latency_s=0.1,
                   error="boom" if outcome == "error" else None, error_kind="server" if outcome == "error" else None)
    store.write_generation(p.key, target, f"ck-{p.key}-{target}", g)
    if label is not None:
        store.write_verdict(p.key, target, Verdict(judge=judge, label=label, extra=extra or {},
                                                   error="judge failed" if label == "judge_error" else None))
    return p


# item -> {lang: label}; "ERROR" = generation error, "CF" = provider content filter (no verdict)
TOY = {
    "1": {"en": "full_refusal", "bn": "full_compliance", "sw": "full_compliance"},
    "2": {"en": "full_refusal", "bn": "full_refusal", "sw": "partial_refusal"},
    "3": {"en": "full_compliance", "bn": "full_compliance", "sw": "invalid"},
    "4": {"en": "full_refusal", "bn": "ERROR", "sw": "CF"},
}
TOY_BENIGN = {"5": {"en": "full_compliance", "bn": "full_refusal", "sw": "judge_error"}}


def build_toy_store(path: Path, spec: dict | None = None) -> Path:
    with Store(path) as st:
        st.write_meta("spec", spec or {"judges": [{"name": "refusal", "options": {}}], "seed": 7})
        st.write_meta("babelsafe_version", "test")
        st.write_component("target", TARGET, {"identity": {"model": "toy"}, "params": {"temperature": 0.0}})
        st.write_component("judge", "refusal", {"options": {}})
        for table, benign in ((TOY, False), (TOY_BENIGN, True)):
            for item, row in table.items():
                for lang, lab in row.items():
                    if lab == "ERROR":
                        write_probe(st, item, lang, None, outcome="error", benign=benign)
                    elif lab == "CF":
                        write_probe(st, item, lang, None, outcome="content_filter", benign=benign)
                    else:
                        write_probe(st, item, lang, lab, benign=benign)
    return path
