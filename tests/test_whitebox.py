"""White-box methods on tiny random Llama models built inside the test (no downloads): mechanics of
Emulated Disalignment, steering, head ablation and the Language Ranker, and a real run through them."""
from __future__ import annotations

import asyncio
import json

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")
transformers = pytest.importorskip("transformers", reason="transformers not installed")

from test_targets_local_hf import build_model  # noqa: E402  (the project's offline tiny-model builder)

from babelsafe.errors import UsageError  # noqa: E402
from babelsafe.registry import registry  # noqa: E402
from babelsafe.spec import target_spec  # noqa: E402
from babelsafe.targets.hf_transformers import TransformersTarget  # noqa: E402
from babelsafe.types import GenParams  # noqa: E402
from babelsafe.whitebox import ed, heads, ranker, steer  # noqa: E402

MSG = [{"role": "user", "content": "how do i bake bread ?"}]


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory):
    return build_model(tmp_path_factory.mktemp("aligned"), seed=0)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return build_model(tmp_path_factory.mktemp("base"), seed=1)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BABELSAFE_CACHE", str(tmp_path / "cache"))


def build(spec: str):
    ts = target_spec(spec)
    return registry("target").build(ts.type, ts.constructor_options())


def gen(target, messages=MSG, **kw):
    return asyncio.run(target.generate(messages, GenParams(**{"max_tokens": 12, **kw})))


def close(*targets):
    for t in targets:
        asyncio.run(t.aclose())


def plain_text(model_dir, messages=MSG, **kw):
    t = TransformersTarget(model=str(model_dir))
    g = gen(t, messages, **kw)
    close(t)
    return g


def ids_of(t, text="how do i bake bread ?"):
    return t.load().tokenizer(text, return_tensors="pt")["input_ids"]


# ----------------------------------------------------------------------------------------------------
# Emulated Disalignment
# ----------------------------------------------------------------------------------------------------
def test_ed_alpha_zero_is_the_base_model_exactly(aligned_dir, base_dir):
    """alpha = 0 is the base model alone (the paper's parametrisation), token for token."""
    t = build(f"ed:aligned={aligned_dir},base={base_dir},alpha=0,base_template=chat")
    assert isinstance(t, ed.EDTarget) and t.alpha == 0
    g = gen(t)
    ref = plain_text(base_dir)
    assert g.outcome == "ok" and g.completion_tokens > 0
    assert g.text == ref.text and g.completion_tokens == ref.completion_tokens
    close(t)


def test_ed_of_a_model_with_itself_is_that_model(aligned_dir):
    """Aligned = base: (1 + a) s - a s = s, so any alpha reproduces the aligned model."""
    t = build(f"ed:aligned={aligned_dir},base={aligned_dir},alpha=0.7,base_template=chat")
    assert gen(t).text == plain_text(aligned_dir).text
    close(t)


def test_ed_formula_first_token(aligned_dir, base_dir):
    alpha = 0.5
    t = ed.EDTarget(aligned=str(aligned_dir), base=str(base_dir), alpha=alpha)
    g = asyncio.run(t.generate(MSG, GenParams(max_tokens=1)))
    a, b = t.load()
    la = a.start(a.tokenize(MSG, chat=True))
    lb = b.start(b.tokenize(MSG, chat=False))
    assert b.tokenize(MSG, chat=False)[:1] != [] and "# Query:" in ed.query_prompt(MSG)
    want = int(torch.argmax((1 + alpha) * torch.tensor(lb) - alpha * torch.tensor(la)))
    eos = a.eos()
    assert (g.completion_tokens == 0) == (want in eos)
    if want not in eos:
        assert g.text == a.decode([want])
    # the formula itself, elementwise
    assert torch.allclose(torch.tensor(ed.ed_scores(lb, la, alpha)), 1.5 * torch.tensor(lb) - 0.5 * torch.tensor(la))
    close(t)


def test_ed_sampling_is_seeded(aligned_dir, base_dir):
    t = ed.EDTarget(aligned=str(aligned_dir), base=str(base_dir), alpha=0.3)
    x = gen(t, temperature=1.0, seed=3)
    y = gen(t, temperature=1.0, seed=3)
    others = {gen(t, temperature=1.0, seed=s).text for s in range(4, 9)}
    assert x.text == y.text and x.outcome == "ok"
    assert len(others | {x.text}) > 1  # sampling actually samples
    close(t)


def test_ed_identity_and_errors(aligned_dir, base_dir):
    t1 = ed.EDTarget(aligned=str(aligned_dir), base=str(base_dir), alpha=0.3)
    t2 = ed.EDTarget(aligned=str(aligned_dir), base=str(base_dir), alpha=0.6)
    assert t1.identity() != t2.identity() and t1.identity()["alpha"] == 0.3
    with pytest.raises(UsageError, match=">= 0"):
        build(f"ed:aligned={aligned_dir},base={base_dir},alpha=-1")
    with pytest.raises(UsageError, match="both models"):
        build(f"ed:aligned={aligned_dir}")
    with pytest.raises(UsageError, match="Unknown option"):
        build(f"ed:aligned={aligned_dir},base={base_dir},alpah=1")
    with pytest.raises(UsageError, match="same backend"):
        build(f"ed:aligned={aligned_dir},base=smollm2")


# ----------------------------------------------------------------------------------------------------
# Steering
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def pairs_file(tmp_path):
    rows = [("tell me about cats", "tell me about dogs"), ("how do i bake bread ?", "how do i bake cake ?"),
            ("the apple is red", "the pear is green")]
    p = tmp_path / "pairs.jsonl"
    p.write_text("\n".join(json.dumps({"positive": a, "negative": b}) for a, b in rows), encoding="utf-8")
    return p


def test_vector_is_the_mean_difference_and_cached(aligned_dir, pairs_file):
    plain = TransformersTarget(model=str(aligned_dir))
    sv = steer.compute_vector(str(aligned_dir), str(pairs_file), target=plain)
    pos, neg = steer.load_pairs(str(pairs_file))
    want = (steer.activations(plain, pos) - steer.activations(plain, neg)).mean(0)
    assert sv.vectors.shape == (2, 32) and torch.allclose(sv.vectors, want)
    prov = json.loads(sv.path.with_suffix(".json").read_text())
    assert prov["n_pairs"] == 3 and prov["model"]["model"] == aligned_dir.name and 0 <= prov["best_layer"] < 2
    assert len(prov["js_by_layer"]) == 2 and sv.path.parent.name == "steer"
    again = steer.compute_vector(str(aligned_dir), str(pairs_file), target=plain)
    assert again.digest == sv.digest and again.provenance["created"] == sv.provenance["created"]  # from cache
    close(plain)


def test_steer_coefficient_zero_is_the_identity(aligned_dir, pairs_file):
    t = build(f"steer:model={aligned_dir},layer=1,coef=0,pairs={pairs_file}")
    entry = t.load()
    x = ids_of(t)
    before = steer.block_outputs(entry.model, x)
    with t._intervention(entry):
        during = steer.block_outputs(entry.model, x)
    assert all(torch.equal(a, b) for a, b in zip(before, during))
    assert gen(t).text == plain_text(aligned_dir).text
    close(t)


def test_steer_add_shifts_exactly_that_block(aligned_dir, pairs_file):
    t = build(f"steer:model={aligned_dir},layer=0,coef=3,pairs={pairs_file}")
    entry = t.load()
    x = ids_of(t)
    v = t.vector().vectors[0]
    before = steer.block_outputs(entry.model, x)
    with t._intervention(entry):
        during = steer.block_outputs(entry.model, x)
    assert torch.allclose(during[0], before[0] + 3 * v, atol=1e-5)
    assert not torch.allclose(during[1], before[1])  # later blocks see the shifted stream
    after = steer.block_outputs(entry.model, x)  # hooks are gone once the context closes
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    gen(t)
    assert gen(TransformersTarget(model=str(aligned_dir))).text == plain_text(aligned_dir).text
    close(t)


def test_steer_ablate_removes_the_direction(aligned_dir, pairs_file):
    t = build(f"steer:model={aligned_dir},layer=1,mode=ablate,coef=1,pairs={pairs_file}")
    entry = t.load()
    u = t.vector().vectors[1] / t.vector().vectors[1].norm()
    with t._intervention(entry):
        during = steer.block_outputs(entry.model, ids_of(t))
    assert all(float((h @ u).abs().max()) < 1e-4 for h in during)
    ident = t.identity()
    assert ident["type"] == "steer" and ident["steer_mode"] == "ablate" and ident["steer_vector"] == t.vector().provenance["key"]
    close(t)


def test_steer_vector_file_and_errors(aligned_dir, pairs_file, tmp_path):
    sv = steer.compute_vector(str(aligned_dir), str(pairs_file), out=tmp_path / "v.pt")
    t = build(f"steer:model={aligned_dir},coef=-2,vector={tmp_path / 'v.pt'}")
    assert t.chosen_layer() == sv.best_layer and gen(t).outcome == "ok"
    close(t)
    with pytest.raises(UsageError, match="not found"):
        build(f"steer:model={aligned_dir},vector={tmp_path / 'missing.pt'}").load()
    with pytest.raises(UsageError, match="out of range"):
        steer.steering(t.load().model, sv.vectors[0], 5, 1.0)
    with pytest.raises(UsageError, match="Unknown pairs"):
        steer.load_pairs("nonsense")


def test_language_pairs_from_parallel_dataset():
    pos, neg = steer.load_pairs("multijail:en-vs-sw", 5)
    assert len(pos) == len(neg) == 5 and pos != neg
    hp, hn = steer.load_pairs("xstest", 8)
    assert len(hp) == len(hn) == 8


# ----------------------------------------------------------------------------------------------------
# Heads
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", heads.MODES)
def test_ablating_a_head_changes_only_that_head(aligned_dir, mode):
    t = TransformersTarget(model=str(aligned_dir))
    model = t.load().model
    x = ids_of(t)
    n_layers, n_heads, hd = 2, 4, 8
    before = [heads.head_outputs(model, x, layer) for layer in range(n_layers)]
    with heads.ablation(model, [(1, 2)], mode):
        after = [heads.head_outputs(model, x, layer) for layer in range(n_layers)]
    assert torch.equal(before[0], after[0])  # an earlier layer is untouched
    for h in range(n_heads):
        s = slice(h * hd, (h + 1) * hd)
        same = torch.equal(before[1][..., s], after[1][..., s])
        assert same == (h != 2), f"head {h}"
    if mode == "zero":
        assert float(after[1][..., 16:24].abs().max()) == 0.0
    close(t)


def test_ships_scan_ranks_every_head(aligned_dir, tmp_path):
    out = tmp_path / "heads.json"
    res = heads.ships_scan(str(aligned_dir), "multijail", "en", limit=3, refusal_top=1, max_tokens=4, out=out)
    rank = res["ranking"]
    assert len(rank) == 8 and {(r["layer"], r["head"]) for r in rank} == {(a, b) for a in range(2) for b in range(4)}
    assert all(r["ships"] >= -1e-6 for r in rank) and rank[0]["ships"] > 0
    assert [r["ships"] for r in rank] == sorted((r["ships"] for r in rank), reverse=True)
    assert res["refusal"]["baseline"]["n"] == 3 and len(res["refusal"]["heads"]) == 1
    assert json.loads(out.read_text())["ranking"] == rank
    t = build(f"heads:model={aligned_dir},ranking={out},top=2")
    assert t.heads == sorted((r["layer"], r["head"]) for r in rank[:2])
    assert gen(t).outcome == "ok" and t.identity()["ablated_heads"] == [list(h) for h in t.heads]
    close(t)


def test_heads_target_errors(aligned_dir):
    assert heads.parse_heads("1.2+0.3") == [(1, 2), (0, 3)]
    with pytest.raises(UsageError, match="LAYER.HEAD"):
        heads.parse_heads("1-2")
    with pytest.raises(UsageError, match="do not exist"):
        build(f"heads:model={aligned_dir},heads=7.0").load()
    with pytest.raises(UsageError, match="needs heads"):
        build(f"heads:model={aligned_dir}")


# ----------------------------------------------------------------------------------------------------
# Language Ranker
# ----------------------------------------------------------------------------------------------------
def test_identical_inputs_rank_identically(aligned_dir):
    t = TransformersTarget(model=str(aligned_dir))
    enc = ranker.hf_encoder(t)
    items = {"1": {"en": "tell me about cats", "xx": "tell me about cats", "yy": "tell me about cats",
                   "zz": "cómo se hace el pan"},
             "2": {"en": "the apple is red", "xx": "the apple is red", "yy": "the apple is red", "zz": "面包 хлеб"}}
    a = ranker.rank_from_encoder(enc, items)
    b = ranker.rank_from_encoder(enc, items)
    assert a == b
    assert a["scores"]["xx"] == a["scores"]["yy"] and abs(a["scores"]["xx"] - 1.0) < 1e-6
    assert a["ranking"][-1] == "zz" and a["scores"]["zz"] < 1.0
    close(t)


def test_correlation_helpers():
    assert ranker.ranks([3.0, 1.0, 2.0, 2.0]) == [4.0, 1.0, 2.5, 2.5]
    c = ranker.correlate({"en": 1.0, "a": 0.9, "b": 0.8, "c": 0.7}, {"en": 0.0, "a": 0.1, "b": 0.3, "c": 0.35})
    assert c["n"] == 3 and c["spearman"] == -1.0 and c["pearson"] < -0.9
    assert ranker.correlate({"a": 1.0}, {"a": 0.5})["spearman"] is None


def test_run_through_whitebox_targets_then_rank_languages(aligned_dir, base_dir, tmp_path, pairs_file):
    """A real run (MultiJail -> ed and steer targets -> refusal judge -> store), then the ranker beside
    the run's per-language unsafe rates; the report builds."""
    import babelsafe.api as api

    run = tmp_path / "run"
    res = api.run({"languages": ["en", "zh", "sw"], "limit": 2, "out": str(run), "judges": ["refusal"],
                   "targets": [{"type": "ed", "model": f"aligned={aligned_dir},base={base_dir},alpha=0.3",
                                "max_tokens": 6},
                               {"type": "steer", "model": str(aligned_dir), "max_tokens": 6,
                                "options": {"layer": 1, "coef": -2, "pairs": str(pairs_file)}}]})
    assert res.counts["completed"] == 12 and res.counts["errors"] == 0
    out = api.rank_languages(str(aligned_dir), languages=["en", "zh", "sw"], limit=3, run_dir=run)
    assert set(out["ranking"]) == {"zh", "sw"} and out["n_items"] == {"zh": 3, "sw": 3}
    assert set(out["unsafe"]["rates"]) >= {"en", "zh", "sw"}
    assert out["unsafe"]["correlation"]["languages"] == ["sw", "zh"]
    assert json.loads((run / ranker.ARTIFACT).read_text())["ranking"] == out["ranking"]
    rep = api.report(run)  # the report panel: ranking beside the summary's own unsafe rates
    panel = rep.summary["language_ranker"]
    assert [r["language"] for r in panel["rows"]] == out["ranking"]
    assert panel["correlation"] == out["unsafe"]["correlation"]
    assert "Language Ranker" in rep.path.read_text(encoding="utf-8")


def test_cli_verbs(aligned_dir, pairs_file, tmp_path):
    from typer.testing import CliRunner

    from babelsafe.cli import app

    cli = CliRunner()
    r = cli.invoke(app, ["whitebox", "steer-vector", "--model", str(aligned_dir), "--pairs", str(pairs_file),
                         "--out", str(tmp_path / "v.pt")])
    assert r.exit_code == 0, r.output
    assert "best layer" in r.output and (tmp_path / "v.json").is_file()
    r = cli.invoke(app, ["whitebox", "heads-scan", "--model", str(aligned_dir), "--limit", "2", "--top", "3",
                         "--out", str(tmp_path / "h.json")])
    assert r.exit_code == 0, r.output
    assert r.output.count(".") >= 3 and json.loads((tmp_path / "h.json").read_text())["n_prompts"] == 2
    r = cli.invoke(app, ["whitebox", "rank-languages", "--model", str(aligned_dir), "--languages", "en,zh,sw",
                         "--limit", "2", "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert set(json.loads((tmp_path / "r.json").read_text())["ranking"]) == {"zh", "sw"}
    r = cli.invoke(app, ["whitebox", "rank-languages", "--model", str(aligned_dir), "--layers", "x"])
    assert r.exit_code == 2 and "--layers" in r.output
