"""Safety attention heads: ablate single heads, rank them (Ships), and run a model with chosen heads off.

Method notes (paraphrased; Zhou et al., "On the Role of Attention Heads in Large Language Model
Safety", arXiv:2410.13708, github.com/ydyjya/SafetyHeadAttribution):
- ablating head h multiplies its slice of the query projection by a tiny factor (scale = 1e-5,
  "scale_mask"), which flattens its attention so the head outputs the mean of its values; `zero`
  removes the head's output and `mean` replaces it by the mean of the layer's heads (both act on the
  attention output projection's input, where the heads sit side by side);
- Ships(q, h) = KL(p(.|q) || p(.|q, h ablated)) over the vocabulary at the last position of harmful
  query q; heads are ranked by the mean over a probe set of harmful queries;
- the Ships ranking is cheap (one forward pass per head over the probe set); `refusal_top=K` also
  measures, for the K best heads, the refusal rate with that head ablated (greedy answers, babelsafe's
  lexicon refusal judge), which is what the paper's 16x headline is about.
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any, ContextManager, Iterable

from ..errors import UsageError
from ..targets.hf_transformers import TransformersTarget
from .hooks import decoder_layers, head_layout, hooks, import_torch, merge_options, output_projection, \
    query_projection

log = logging.getLogger(__name__)

PAPER_SCALE = 1e-5
MODES = ("scale", "zero", "mean")


def parse_heads(text: Any) -> list[tuple[int, int]]:
    """'3.1+5.0' / '3.1;5.0' / [[3, 1], [5, 0]] / a ranking JSON path with `top` -> [(layer, head)]."""
    if text is None or text == "":
        return []
    if isinstance(text, (list, tuple)):
        return [(int(a), int(b)) for a, b in text]
    if isinstance(text, float):  # 3.10 would arrive as 3.1: ambiguous
        raise UsageError(f"Head {text!r} arrived as a number: quote it ('3.10') or give [[layer, head]].")
    out = []
    for part in filter(None, re.split(r"[+;\s]+", str(text).strip())):
        layer, sep, head = part.partition(".")
        if not sep or not layer.isdigit() or not head.isdigit():
            raise UsageError(f"Bad head '{part}': write heads as LAYER.HEAD joined by '+', e.g. heads=3.1+5.0.")
        out.append((int(layer), int(head)))
    return out


def ablation(model: Any, heads: Iterable[tuple[int, int]], mode: str = "scale",
             scale: float = PAPER_SCALE) -> ContextManager[None]:
    """Hooks that ablate each (layer, head) while the context is open."""
    if mode not in MODES:
        raise UsageError(f"head ablation mode must be one of {', '.join(MODES)}, got '{mode}'.")
    blocks = decoder_layers(model)
    n_layers, n_heads, head_dim = head_layout(model)
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise UsageError(f"Head {layer}.{head} does not exist: the model has layers 0-{n_layers - 1} "
                             f"and heads 0-{n_heads - 1}.")
        by_layer.setdefault(layer, []).append(head)
    regs = []
    for layer, hs in sorted(by_layer.items()):
        slices = [slice(h * head_dim, (h + 1) * head_dim) for h in sorted(set(hs))]
        if mode == "scale":
            def q_hook(_m: Any, _i: Any, out: Any, slices: list[slice] = slices) -> Any:
                out = out.clone()
                for s in slices:
                    out[..., s] = out[..., s] * scale
                return out
            regs.append(lambda q=query_projection(blocks[layer]), f=q_hook: q.register_forward_hook(f))
        else:
            def o_pre(_m: Any, args: Any, slices: list[slice] = slices, mode: str = mode) -> Any:
                x = args[0].clone()
                if mode == "mean":
                    mean = x.unflatten(-1, (n_heads, head_dim)).mean(-2)
                for s in slices:
                    x[..., s] = 0.0 if mode == "zero" else mean
                return (x, *args[1:])
            regs.append(lambda o=output_projection(blocks[layer]), f=o_pre: o.register_forward_pre_hook(f))
    return hooks(*regs)


def head_outputs(model: Any, input_ids: Any, layer: int) -> Any:
    """The input of block `layer`'s attention output projection (the heads' outputs side by side)."""
    torch = import_torch()
    seen: list[Any] = []
    o = output_projection(decoder_layers(model)[layer])
    with hooks(lambda: o.register_forward_pre_hook(lambda _m, a: seen.append(a[0].detach().clone()))), \
            torch.inference_mode():
        model(input_ids=input_ids)
    return seen[0]


# ----------------------------------------------------------------------------------------------------
# Ships scan
# ----------------------------------------------------------------------------------------------------
def _probe_prompts(dataset: str, language: str, limit: int) -> list[str]:
    from ..registry import registry

    ds = registry("dataset").build(dataset)
    prompts = [s.prompt for s in ds.load([language]) if s.meta.get("label", "harmful") == "harmful"]
    if not prompts:
        raise UsageError(f"Dataset '{dataset}' has no harmful prompts in language '{language}'.")
    return prompts[:limit]


def _last_logprobs(target: TransformersTarget, prompts: list[str], ctx: Any = None) -> Any:
    """log softmax of the last-position logits for each prompt (chat-formatted, left-padded batch)."""
    torch = import_torch()
    entry = target.load()
    texts = [target.format_prompt([{"role": "user", "content": p}]) for p in prompts]
    enc = entry.tokenizer([t for t, _ in texts], add_special_tokens=texts[0][1], padding=True, return_tensors="pt")
    with torch.inference_mode(), (ctx if ctx is not None else hooks()):
        out = entry.model(input_ids=enc["input_ids"].to(entry.device),
                          attention_mask=enc["attention_mask"].to(entry.device))
    return torch.log_softmax(out.logits[:, -1].float(), -1)


def ships_scan(model: str, dataset: str = "multijail", language: str = "en", limit: int = 32, mode: str = "scale",
               scale: float = PAPER_SCALE, refusal_top: int = 0, max_tokens: int = 64, device: str = "auto",
               dtype: str = "auto", out: str | Path | None = None,
               target: TransformersTarget | None = None) -> dict[str, Any]:
    """Rank every (layer, head) of `model` by Ships on harmful probe prompts; optionally measure the
    refusal rate with each of the `refusal_top` best heads ablated. Returns (and writes to `out`) the
    ranking with its provenance."""
    import_torch()
    target = target or TransformersTarget(model=model, device=device, dtype=dtype)
    entry = target.load()
    prompts = _probe_prompts(dataset, language, int(limit))
    n_layers, n_heads, _ = head_layout(entry.model)
    t0 = time.perf_counter()
    with entry.lock:
        p = _last_logprobs(target, prompts)
        scores = []
        for layer in range(n_layers):
            for head in range(n_heads):
                q = _last_logprobs(target, prompts, ablation(entry.model, [(layer, head)], mode, scale))
                kl = (p.exp() * (p - q)).sum(-1)  # KL(p || q) per prompt
                scores.append({"layer": layer, "head": head, "ships": float(kl.mean()),
                               "ships_max": float(kl.max())})
    scores.sort(key=lambda r: -r["ships"])
    result: dict[str, Any] = {
        "model": target.identity(), "dataset": dataset, "language": language, "n_prompts": len(prompts),
        "mode": mode, "scale": scale, "layers": n_layers, "heads_per_layer": n_heads,
        "method": "Ships = KL(p || p with head ablated), last position (arXiv:2410.13708)",
        "seconds": round(time.perf_counter() - t0, 3), "ranking": scores}
    if refusal_top:
        result["refusal"] = refusal_change(target, prompts, [(r["layer"], r["head"]) for r in scores[:refusal_top]],
                                           language, mode, scale, max_tokens)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return result


def refusal_change(target: TransformersTarget, prompts: list[str], heads: list[tuple[int, int]], language: str,
                   mode: str, scale: float, max_tokens: int) -> dict[str, Any]:
    """Refusal rate (full + partial refusals over valid answers) without ablation and with each head."""
    import asyncio

    from ..judges.refusal import RefusalJudge
    from ..types import GenParams

    judge = RefusalJudge()
    params = GenParams(temperature=0.0, max_tokens=int(max_tokens))
    convs = [[{"role": "user", "content": p}] for p in prompts]

    def rate(t: TransformersTarget) -> dict[str, Any]:
        gens = asyncio.run(t.generate_batch(convs, params))
        labels = [judge.classify(g.text or "", p, language).label for g, p in zip(gens, prompts) if g.outcome == "ok"]
        valid = [lab for lab in labels if lab != "invalid"]
        refused = sum(lab in ("full_refusal", "partial_refusal") for lab in valid)
        return {"refusal_rate": refused / len(valid) if valid else None, "n_valid": len(valid), "n": len(prompts)}

    base = rate(target)
    rows = []
    for layer, head in heads:
        t = HeadsTarget(model=target.model, heads=[(layer, head)], mode=mode, scale=scale, device=target.device_opt,
                        dtype=target.dtype_opt)
        r = rate(t)
        asyncio.run(t.aclose())
        delta = None if r["refusal_rate"] is None or base["refusal_rate"] is None else \
            r["refusal_rate"] - base["refusal_rate"]
        rows.append({"layer": layer, "head": head, **r, "change": delta})
    return {"baseline": base, "heads": rows, "max_tokens": int(max_tokens)}


# ----------------------------------------------------------------------------------------------------
# The target
# ----------------------------------------------------------------------------------------------------
_HEAD_OPTIONS = {"model", "heads", "ranking", "top", "mode", "scale", "batch_size", "device", "dtype", "seed",
                 "revision", "local_files_only", "trust_remote_code", "chat_template"}


class HeadsTarget(TransformersTarget):
    """A transformers model with chosen attention heads ablated (safety-head attack).

    Options (also as `heads:model=M,heads=3.1+5.0`): model; heads (LAYER.HEAD joined by '+'); or
    ranking (a JSON from `babelsafe whitebox heads-scan`) with top (default 1); mode (scale | zero |
    mean, default scale); scale (default 1e-5); and the transformers target's batch_size, device, dtype,
    seed, revision, local_files_only.
    """

    name = "heads"
    requires = ("model", "heads|ranking")
    source = "Safety attention heads (Ships), Zhou et al., arXiv:2410.13708"

    def __init__(self, model: str | None = None, heads: str | list | None = None, ranking: str | None = None,
                 top: int | None = None, mode: str | None = None, scale: float | None = None,
                 batch_size: int | None = None, device: str | None = None, dtype: str | None = None,
                 seed: int | None = None, revision: str | None = None, local_files_only: bool | None = None,
                 trust_remote_code: bool | None = None, chat_template: str | None = None, **plumbing: Any):
        given = {k: v for k, v in locals().items() if k in _HEAD_OPTIONS and k != "model"}
        opts = merge_options(model, {**given, **plumbing}, _HEAD_OPTIONS, raw=("heads",))
        if not opts.get("model"):
            raise UsageError("The heads target needs a model: heads:model=HUB_ID_OR_DIR,heads=3.1+5.0 "
                             "(or ranking=SCAN.json,top=1 from `babelsafe whitebox heads-scan`).")
        heads = parse_heads(opts.pop("heads", None))
        ranking, top = opts.pop("ranking", None), int(opts.pop("top", 1))
        if ranking:
            path = Path(str(ranking)).expanduser()
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))["ranking"]
            except (OSError, ValueError, KeyError) as e:
                raise UsageError(f"Cannot read a head ranking from {path}: {e}. Write one with "
                                 "`babelsafe whitebox heads-scan --model MODEL --out FILE`.") from e
            heads += [(int(r["layer"]), int(r["head"])) for r in rows[:top]]
        if not heads:
            raise UsageError("The heads target needs heads to ablate: heads=LAYER.HEAD[+LAYER.HEAD...] or "
                             "ranking=SCAN.json[,top=N].")
        self.heads = sorted(set(heads))
        self.mode = str(opts.pop("mode", "scale"))
        if self.mode not in MODES:
            raise UsageError(f"head ablation mode must be one of {', '.join(MODES)}, got '{self.mode}'.")
        self.scale = float(opts.pop("scale", PAPER_SCALE))
        super().__init__(**opts)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident.update({"type": "heads", "ablated_heads": [list(h) for h in self.heads], "ablation": self.mode,
                      "ablation_scale": self.scale if self.mode == "scale" else None})
        return ident

    def load(self) -> Any:
        entry = super().load()
        n_layers, n_heads, _ = head_layout(entry.model)
        bad = [h for h in self.heads if not (0 <= h[0] < n_layers and 0 <= h[1] < n_heads)]
        if bad:
            raise UsageError(f"Heads {bad} do not exist in {self.model} (layers 0-{n_layers - 1}, heads "
                             f"0-{n_heads - 1}).")
        return entry

    def _intervention(self, entry: Any) -> ContextManager[None]:
        return ablation(entry.model, self.heads, self.mode, self.scale)
