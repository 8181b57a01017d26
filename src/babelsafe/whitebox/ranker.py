"""Language Ranker: how close is each language's internal representation to English's, on parallel
prompts; shown beside per-language unsafe rates with their correlation.

Method notes (paraphrased; Li et al., "Language Ranker: A Metric for Quantifying LLM Performance Across
High and Low-Resource Languages", arXiv:2404.11553, AAAI 2025; no official code was found): feed the
English and the target-language version of each parallel sentence separately, take the last token's
hidden state, compute the cosine similarity between the two at several layers and average them; a
language's score is the mean over its samples, and languages are ranked by it (English = 1 by
definition). The paper's exact layer set is not confirmed: babelsafe averages every block's output
(transformers), or uses the final layer only (llama.cpp, which exposes only the last hidden state, as
an embedding with last-token pooling). Prompts are fed raw, without a chat template.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UsageError
from .hooks import import_torch

log = logging.getLogger(__name__)

REFERENCE = "en"
ARTIFACT = "language_ranker.json"  # written into a run directory for the report panel


def parallel_prompts(dataset: str = "multijail", languages: list[str] | None = None,
                     limit: int | None = 50) -> dict[str, dict[str, str]]:
    """{item id: {language: prompt}} for items that have an English version, at most `limit` items."""
    from ..registry import registry

    ds = registry("dataset").build(dataset)
    if not getattr(ds, "parallel", False):
        raise UsageError(f"Dataset '{dataset}' is not parallel (its items are not translations of each other); "
                         "the Language Ranker needs parallel prompts, e.g. multijail.")
    wanted = sorted(set(languages or ds.languages) | {REFERENCE})
    by_id: dict[str, dict[str, str]] = {}
    for s in ds.load(wanted):
        by_id.setdefault(s.id, {})[s.language] = s.prompt
    ids = [i for i in sorted(by_id, key=_id_order) if REFERENCE in by_id[i]]
    return {i: by_id[i] for i in (ids[:limit] if limit else ids)}


def _id_order(i: str) -> tuple:
    return (0, int(i), "") if str(i).isdigit() else (1, 0, str(i))


# ----------------------------------------------------------------------------------------------------
# Representations: text -> list of per-layer vectors
# ----------------------------------------------------------------------------------------------------
def hf_encoder(target: Any) -> Callable[[str], list[Any]]:
    """Last-token output of every decoder block of a transformers model (float32, CPU)."""
    torch = import_torch()
    entry = target.load()

    def encode(text: str) -> list[Any]:
        ids = entry.tokenizer(text, return_tensors="pt")["input_ids"].to(entry.device)
        with entry.lock, torch.inference_mode():
            out = entry.model(input_ids=ids, output_hidden_states=True)
        return [h[0, -1].float().cpu() for h in out.hidden_states[1:]]
    return encode


def llama_encoder(model_path: Path, n_threads: int | None = None) -> Callable[[str], list[Any]]:
    """The final hidden state of the last token from llama.cpp (embedding mode, last-token pooling)."""
    import numpy as np

    from ..targets.llamacpp import _import_llama, default_threads

    llama_cpp = _import_llama()
    threads = int(n_threads) if n_threads else default_threads()
    llm = llama_cpp.Llama(model_path=str(model_path), embedding=True, n_ctx=512, n_threads=threads,
                          n_threads_batch=threads, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST, verbose=False)

    def encode(text: str) -> list[Any]:
        return [np.asarray(llm.embed(text), dtype=np.float64)]
    encode.close = llm.close  # type: ignore[attr-defined]  # free the context when done
    return encode


def cosine(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 else 0.0


def rank_from_encoder(encode: Callable[[str], list[Any]], items: dict[str, dict[str, str]],
                      layers: Sequence[int] | None = None) -> dict[str, Any]:
    """Per-language mean cosine similarity to English (averaged over `layers`, default all) and the
    ranking, highest first."""
    per_lang: dict[str, list[float]] = {}
    per_layer: dict[str, list[list[float]]] = {}
    n_layers = 0
    for _, texts in items.items():
        ref = encode(texts[REFERENCE])
        n_layers = len(ref)
        use = list(layers) if layers is not None else list(range(n_layers))
        if any(not 0 <= l < n_layers for l in use):
            raise UsageError(f"layers {list(use)} out of range: the model has {n_layers} (0-{n_layers - 1}).")
        for lang, text in sorted(texts.items()):
            if lang == REFERENCE:
                continue
            vecs = encode(text)
            sims = [cosine(ref[l], vecs[l]) for l in use]
            per_lang.setdefault(lang, []).append(sum(sims) / len(sims))
            per_layer.setdefault(lang, []).append(sims)
    scores = {lang: sum(v) / len(v) for lang, v in per_lang.items()}
    ranking = sorted(scores, key=lambda k: (-scores[k], k))
    layer_means = {lang: [sum(col) / len(col) for col in zip(*rows)] for lang, rows in per_layer.items()}
    return {"reference": REFERENCE, "scores": {k: round(scores[k], 6) for k in ranking}, "ranking": ranking,
            "n_items": {k: len(v) for k, v in per_lang.items()}, "layers_used": list(layers) if layers is not None
            else "all", "n_layers": n_layers, "by_layer": {k: [round(x, 6) for x in v] for k, v in layer_means.items()}}


def rank_languages(model: str, dataset: str = "multijail", languages: list[str] | None = None, limit: int = 50,
                   backend: str = "auto", layers: Sequence[int] | None = None, device: str = "auto",
                   dtype: str = "auto", n_threads: int | None = None, run_dir: str | Path | None = None,
                   judge: str | None = None, target_label: str | None = None) -> dict[str, Any]:
    """Language Ranker scores for `model` on a parallel dataset; with `run_dir`, also that run's
    per-language unsafe rates, their correlation with the scores, and the result saved into the run
    directory (`language_ranker.json`) for the report."""
    from .ed import _is_gguf

    items = parallel_prompts(dataset, languages, limit)
    if not items:
        raise UsageError(f"No parallel items with English in '{dataset}' for languages {languages}.")
    if backend == "auto":
        backend = "llamacpp" if _is_gguf(model) else "transformers"
    t0 = time.perf_counter()
    if backend == "llamacpp":
        from ..targets.llamacpp import LlamaCppTarget

        t = LlamaCppTarget(model=model)
        ident = t.identity()
        encode = llama_encoder(t.model_path, n_threads)
        try:
            result = rank_from_encoder(encode, items, None)
        finally:
            encode.close()  # type: ignore[attr-defined]
        result["layers_used"] = "final"
    elif backend == "transformers":
        from ..targets.hf_transformers import TransformersTarget

        t = TransformersTarget(model=model, device=device, dtype=dtype)
        ident = t.identity()
        result = rank_from_encoder(hf_encoder(t), items, layers)
    else:
        raise UsageError(f"backend must be auto, transformers or llamacpp, got '{backend}'.")
    result.update({"model": ident, "backend": backend, "dataset": dataset, "seconds": round(time.perf_counter() - t0, 3),
                   "method": "mean last-token cosine similarity to English (Language Ranker, arXiv:2404.11553)"})
    if run_dir is not None:
        result["unsafe"] = attach_to_run(result, run_dir, judge, target_label)
    return result


# ----------------------------------------------------------------------------------------------------
# Correlation with unsafe rates
# ----------------------------------------------------------------------------------------------------
def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else None


def ranks(x: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing their mean rank."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    return pearson(ranks(x), ranks(y))


def correlate(scores: dict[str, float], unsafe: dict[str, float]) -> dict[str, Any]:
    """Pearson and Spearman correlation between ranker scores and unsafe rates over shared languages
    (English, the reference, excluded: its score is 1 by definition)."""
    common = sorted(k for k in scores if k in unsafe and unsafe[k] is not None and k != REFERENCE)
    x, y = [scores[k] for k in common], [float(unsafe[k]) for k in common]
    p, s = pearson(x, y), spearman(x, y)
    return {"languages": common, "n": len(common), "pearson": None if p is None else round(p, 4),
            "spearman": None if s is None else round(s, 4)}


def unsafe_rates(run_dir: str | Path, judge: str | None = None, target_label: str | None = None
                 ) -> dict[str, float | None]:
    """Per-language unsafe rates of a run (the primary judge unless `judge`; one target's rows when the
    run has several and `target_label` is given)."""
    from .. import metrics

    store = Path(run_dir) / "results.sqlite"
    if not store.is_file():
        raise UsageError(f"{run_dir} is not a babelsafe run directory (no results.sqlite).")
    summary = metrics.summarize(store)
    by_lang = summary.get("by_language", {})
    if judge:
        by_lang = (summary.get("by_judge", {}).get(judge) or {}).get("by_language") or {}
    if target_label:
        per = summary.get("by_target_language") or {}
        by_lang = per.get(target_label) or by_lang
    return {code: ((v.get("rates") or {}).get("unsafe") or {}).get("rate") for code, v in by_lang.items()}


def attach_to_run(result: dict[str, Any], run_dir: str | Path, judge: str | None = None,
                  target_label: str | None = None) -> dict[str, Any]:
    """Per-language unsafe rates of the run beside the ranking, their correlation, and the whole result
    saved as `language_ranker.json` in the run directory (the report shows it)."""
    import json

    rates = unsafe_rates(run_dir, judge, target_label)
    out = {"rates": rates, "correlation": correlate(result["scores"], rates), "judge": judge,
           "target": target_label}
    result["unsafe"] = out
    (Path(run_dir) / ARTIFACT).write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str),
                                          encoding="utf-8")
    return out


# ----------------------------------------------------------------------------------------------------
# Report panel (registered in metrics/panels.py; reads the file `rank-languages --run` saved)
# ----------------------------------------------------------------------------------------------------
def saved_ranking(store_path: str | Path) -> dict[str, Any] | None:
    """The Language Ranker result saved beside a run's store, or None (absent or unreadable)."""
    import json

    path = Path(store_path).parent / ARTIFACT
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data.get("scores"), dict) and isinstance(data.get("ranking"), list) else None
    except (OSError, ValueError) as e:
        log.warning("ignoring %s: %s (recompute it with `babelsafe whitebox rank-languages --run`)", path, e)
        return None


def panel_value(saved: dict[str, Any], by_language: dict[str, Any]) -> dict[str, Any]:
    """Ranking beside the summary's own per-language unsafe rates (so both come from the same
    judgements), with their correlation."""
    rates = {code: ((v.get("rates") or {}).get("unsafe") or {}) for code, v in by_language.items()}
    rows = [{"language": lang, "rank": i, "score": saved["scores"][lang], "unsafe": rates.get(lang) or None}
            for i, lang in enumerate(saved["ranking"], 1)]
    model = saved.get("model") or {}
    return {"model": model.get("model") if isinstance(model, dict) else str(model),
            "backend": saved.get("backend"), "layers": saved.get("layers_used"), "dataset": saved.get("dataset"),
            "rows": rows, "correlation": correlate(saved["scores"], {k: r.get("rate") for k, r in rates.items()})}
