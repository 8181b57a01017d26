"""Panels are chosen by what the run contains, never by dataset names."""
from __future__ import annotations

from pathlib import Path

from babelsafe.metrics import PANELS, panel, summarize
from babelsafe.results import Store
from toy_store import write_probe


def _run(path: Path, dataset: str, taxonomy: str | None = None) -> Path:
    with Store(path / "results.sqlite") as st:
        for item, lab in (("1", "full_compliance"), ("2", "full_refusal")):
            write_probe(st, item, "en", lab, dataset=dataset, category="crime")
        if taxonomy is not None:
            st.write_dataset(dataset, taxonomy)
    return path


def test_sorry_bench_panel_follows_the_declared_taxonomy(tmp_path: Path):
    declared = summarize(_run(tmp_path / "a", "my-prompts", "sorry-bench"))
    assert declared["sorry_bench"]["toy-model"]["mean_fulfilment"] == 0.5
    # a name that merely contains "sorry" no longer turns the panel on (it did before schema v2)
    named = summarize(_run(tmp_path / "b", "sorry_notes", "file"))
    assert named["sorry_bench"] is None
    # stores without declarations: the registered dataset's own name implies its taxonomy
    assert summarize(_run(tmp_path / "c", "sorry-bench"))["sorry_bench"] is not None


def test_panels_that_do_not_apply_keep_their_keys(tmp_path: Path):
    s = summarize(_run(tmp_path, "toy"))
    assert s["pcjailbreak"] is None and s["cosa"] is None and s["sorry_bench"] is None
    assert s["consistency"] == []  # one language: no cross-lingual analysis
    keys = list(s)
    assert keys[keys.index("by_judge") + 1: keys.index("breakdown")] == [p.key for p in PANELS if not p.optional]


def test_a_registered_panel_lands_in_the_summary(tmp_path: Path):
    @panel("toy_count", applies=lambda run: "toy" in {k[5] for k in run.cells})
    def toy_count(run):
        return sum(sum(t.h.values()) for t in run.cells.values())

    try:
        assert summarize(_run(tmp_path, "toy"))["toy_count"] == 2
    finally:
        PANELS[:] = [p for p in PANELS if p.key != "toy_count"]
