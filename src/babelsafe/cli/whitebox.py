"""`babelsafe whitebox steer-vector | heads-scan | rank-languages`: flags -> api calls -> tables."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from .app import app, console, fail, out

whitebox_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="White-box analyses of local models: steering vectors, safety heads, "
                                "Language Ranker. The ed/steer/heads targets run through `babelsafe run`.")
app.add_typer(whitebox_app, name="whitebox")


def _write_json(data: dict, path: Optional[Path]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        console.print(f"wrote {path}")


@whitebox_app.command("steer-vector")
def steer_vector(
    model: str = typer.Option(..., "--model", help="Hugging Face hub id or local model directory."),
    pairs: str = typer.Option("xstest", "--pairs", help="xstest (unsafe vs safe prompts), "
                              "DATASET:LANG-vs-LANG (e.g. multijail:en-vs-sw) or a JSONL of positive/negative."),
    n: int = typer.Option(64, "--n", help="At most this many pairs."),
    position: int = typer.Option(-1, "--position", help="Token position of the activations (-1: last)."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the vector here (default: the cache)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | float16 | bfloat16."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute even when a cached vector exists."),
) -> None:
    """Compute a steering vector per layer from contrastive pairs; prints the JS layer search."""
    from rich.table import Table

    from .. import api

    try:
        prov = api.steer_vector(model, pairs, n, position, device, dtype, out_file, cache=not no_cache)
    except UsageError as e:
        fail(e)
        return
    table = Table(title=f"steering vectors · {pairs} · {prov['n_pairs']} pairs", title_justify="left")
    for col in ("layer", "JS divergence", "|v|"):
        table.add_column(col, justify="right")
    for i, norm in enumerate(prov["norm_by_layer"]):
        js = prov["js_by_layer"][i] if i < len(prov["js_by_layer"]) else None
        mark = " *" if i == prov["best_layer"] else ""
        table.add_row(f"{i}{mark}", "-" if js is None else f"{js:.3g}", f"{norm:.3g}")
    out.print(table)
    out.print(f"best layer (largest JS): {prov['best_layer']}   vector: {prov['path']}")
    out.print(f"use it: --target 'steer:model={model},layer={prov['best_layer']},coef=-4,vector={prov['path']}'")


@whitebox_app.command("heads-scan")
def heads_scan(
    model: str = typer.Option(..., "--model", help="Hugging Face hub id or local model directory."),
    dataset: str = typer.Option("multijail", "--dataset", help="Dataset of harmful probe prompts."),
    language: str = typer.Option("en", "--language", help="Probe language."),
    limit: int = typer.Option(32, "--limit", help="Probe prompts."),
    mode: str = typer.Option("scale", "--mode", help="scale (paper: query x 1e-5) | zero | mean."),
    top: int = typer.Option(10, "--top", help="Heads to print."),
    refusal_top: int = typer.Option(0, "--refusal-top", help="Also measure refusal rate with each of the "
                                    "N best heads ablated (generates answers: slower)."),
    max_tokens: int = typer.Option(64, "--max-tokens", help="Answer length for --refusal-top."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | float16 | bfloat16."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the full ranking as JSON here."),
) -> None:
    """Rank attention heads by Ships (KL of the next-token distribution when the head is ablated)."""
    from rich.table import Table

    from .. import api

    try:
        res = api.heads_scan(model, dataset, language, limit, mode, refusal_top, max_tokens, device, dtype, out_file)
    except UsageError as e:
        fail(e)
        return
    table = Table(title=f"safety heads · Ships on {res['n_prompts']} {dataset}/{language} prompts",
                  title_justify="left")
    for col in ("rank", "head", "Ships (mean KL)", "max KL"):
        table.add_column(col, justify="right")
    for i, r in enumerate(res["ranking"][:top], 1):
        table.add_row(str(i), f"{r['layer']}.{r['head']}", f"{r['ships']:.4g}", f"{r['ships_max']:.4g}")
    out.print(table)
    ref = res.get("refusal")
    if ref:
        base = ref["baseline"]["refusal_rate"]
        out.print(f"refusal rate without ablation: {_pct(base)} ({ref['baseline']['n_valid']} valid answers)")
        for r in ref["heads"]:
            out.print(f"  head {r['layer']}.{r['head']} ablated: {_pct(r['refusal_rate'])} "
                      f"(change {_pct(r['change'], signed=True)})")
    if out_file:
        console.print(f"wrote {out_file}; run with heads off: --target 'heads:model={model},ranking={out_file},top=1'")


@whitebox_app.command("rank-languages")
def rank_languages(
    model: str = typer.Option(..., "--model", help="Hub id / model directory (transformers) or .gguf / "
                              "'smollm2' (llama.cpp)."),
    dataset: str = typer.Option("multijail", "--dataset", help="A parallel dataset."),
    languages: Optional[str] = typer.Option(None, "--languages", help="Comma-separated codes (default: all)."),
    limit: int = typer.Option(50, "--limit", help="Parallel items per language."),
    backend: str = typer.Option("auto", "--backend", help="auto | transformers | llamacpp."),
    layers: Optional[str] = typer.Option(None, "--layers", help="Comma-separated block indices to average "
                                         "(default: all; llama.cpp: final only)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N (transformers)."),
    run_dir: Optional[Path] = typer.Option(None, "--run", help="A run directory: show its per-language unsafe "
                                           "rates and their correlation, and save the ranking for its report."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge whose rates to use (default: primary)."),
    target: Optional[str] = typer.Option(None, "--target", help="Target label in a multi-target run."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result as JSON here."),
) -> None:
    """Language Ranker: similarity of each language's representations to English on parallel prompts."""
    from rich.table import Table

    from .. import api

    try:
        langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
        lays = [int(x) for x in layers.split(",") if x.strip()] if layers else None
        res = api.rank_languages(model, dataset, langs, limit, backend, lays, device, run_dir, judge, target)
    except ValueError as e:
        fail(UsageError(f"--layers must be comma-separated integers: {e}"))
        return
    except UsageError as e:
        fail(e)
        return
    rates = (res.get("unsafe") or {}).get("rates", {})
    table = Table(title=f"Language Ranker · {dataset} · similarity to English ({res['backend']}, "
                  f"layers {res['layers_used']})", title_justify="left")
    for col in ("rank", "lang", "score", "items") + (("unsafe rate",) if rates else ()):
        table.add_column(col, justify="right")
    for i, lang in enumerate(res["ranking"], 1):
        row = [str(i), lang, f"{res['scores'][lang]:.4f}", str(res["n_items"][lang])]
        if rates:
            row.append(_pct(rates.get(lang)))
        table.add_row(*row)
    out.print(table)
    corr = (res.get("unsafe") or {}).get("correlation")
    if corr:
        out.print(f"correlation with unsafe rate over {corr['n']} languages: Spearman {corr['spearman']}, "
                  f"Pearson {corr['pearson']} (negative: languages closer to English are answered more safely)")
    _write_json(res, json_out)


def _pct(x: Optional[float], signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"
