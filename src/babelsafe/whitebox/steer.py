"""Activation steering: a direction in a decoder block's output (the residual stream) computed from
contrastive prompt pairs, then added to or ablated from the residual stream during generation.

Method notes (paraphrased; Wang & Shu, "Trojan Activation Attack", arXiv:2311.09433,
github.com/wang2226/Backdoor-Activation-Attack; and the refusal-direction line of work):
- vector at block l: v_l = mean(act_positive - act_negative), activations taken at one token position
  (default -1, the last token of the chat-formatted prompt; the Trojan Activation Attack used -2 of
  prompt + answer sequences) from every block's output;
- layer choice ("contrastive layer search"): softmax each activation over its hidden units, take the
  Jensen-Shannon divergence of each positive/negative pair, average, and pick the block (among the first
  17) with the largest value;
- add mode: h <- h + coef * v_l at block l, every position (the reference used coef = -0.8 towards the
  adversarial side and, through an in-place double add, an effective ~2x; babelsafe adds once: pass
  coef=-1.6 to reproduce the effective scale);
- ablate mode: h <- h - coef * (h . u) u with u = v_l / |v_l| at the output of every block
  (coef = 1 removes the direction entirely, 0 is the identity).

Pairs (`pairs=`): `xstest` (default: XSTest's unsafe prompts as positive, its safe prompts as negative,
so v points towards refusing), `multijail:en-vs-sw` (parallel prompts: English positive, Swahili
negative) or a JSONL file of {"positive": ..., "negative": ...} rows. Vectors are cached under
`cache_dir()/steer/` as a torch file with a JSON provenance record beside it.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

from ..errors import UsageError
from ..types import stable_hash
from ..targets.hf_transformers import TransformersTarget
from .hooks import block_hidden, cache_dir, decoder_layers, edit_block_output, hooks, import_torch, merge_options

log = logging.getLogger(__name__)

DEFAULT_PAIRS = "xstest"
DEFAULT_N = 64
SEARCH_LAYERS = 17  # the reference searched layers 0-16


@dataclass
class SteeringVector:
    """Per-block directions `vectors[l]` (float32, layers x hidden) with where they came from."""

    vectors: Any
    provenance: dict[str, Any]
    path: Path | None = None

    @property
    def best_layer(self) -> int:
        return int(self.provenance["best_layer"])

    @property
    def digest(self) -> str:
        return str(self.provenance["digest"])


# ----------------------------------------------------------------------------------------------------
# Contrastive pairs
# ----------------------------------------------------------------------------------------------------
def load_pairs(spec: str = DEFAULT_PAIRS, n: int = DEFAULT_N) -> tuple[list[str], list[str]]:
    """(positive prompts, negative prompts), at most n each, from a dataset or a JSONL file."""
    from ..registry import registry

    spec = str(spec or DEFAULT_PAIRS)
    path = Path(spec).expanduser()
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise UsageError(f"Pairs file not found: {path}. Give a JSONL file of "
                             '{"positive": ..., "negative": ...} rows, or pairs=xstest.')
        pos, neg = [], []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pos.append(str(row["positive"]))
                neg.append(str(row["negative"]))
            except (ValueError, KeyError, TypeError) as e:
                raise UsageError(f"{path}:{i}: expected a JSON object with 'positive' and 'negative': {e}") from e
        return pos[:n], neg[:n]
    name, _, rest = spec.partition(":")
    if name == "xstest":
        samples = list(registry("dataset").build("xstest").load(["en"]))
        pos = [s.prompt for s in samples if s.meta.get("label") == "harmful"]
        neg = [s.prompt for s in samples if s.meta.get("label") != "harmful"]
        return pos[:n], neg[:n]
    if rest and "-vs-" in rest:
        a, _, b = rest.partition("-vs-")
        ds = registry("dataset").build(name)
        if not getattr(ds, "parallel", False):
            raise UsageError(f"Dataset '{name}' is not parallel: language pairs need translations of one item.")
        by_id: dict[str, dict[str, str]] = {}
        for s in ds.load([a, b]):
            by_id.setdefault(s.id, {})[s.language] = s.prompt
        rows = [(v[a], v[b]) for _, v in sorted(by_id.items()) if a in v and b in v][:n]
        if not rows:
            raise UsageError(f"No parallel items in '{name}' for languages {a} and {b}.")
        return [r[0] for r in rows], [r[1] for r in rows]
    raise UsageError(f"Unknown pairs '{spec}'. Use xstest, DATASET:LANG-vs-LANG (e.g. multijail:en-vs-sw) "
                     "or a .jsonl file of {\"positive\", \"negative\"} rows.")


# ----------------------------------------------------------------------------------------------------
# Computing a vector
# ----------------------------------------------------------------------------------------------------
def activations(target: TransformersTarget, prompts: list[str], position: int = -1, chat: bool = True) -> Any:
    """Block outputs at one token position: a tensor (prompts x layers x hidden), float32 on CPU."""
    torch = import_torch()
    entry = target.load()
    rows = []
    with entry.lock, torch.inference_mode():
        for p in prompts:
            text, special = target.format_prompt([{"role": "user", "content": p}]) if chat else (p, True)
            ids = entry.tokenizer(text, add_special_tokens=special, return_tensors="pt")["input_ids"]
            out = entry.model(input_ids=ids.to(entry.device), output_hidden_states=True)
            # hidden_states[0] is the embedding output; [l + 1] is block l's output
            rows.append(torch.stack([h[0, position] for h in out.hidden_states[1:]]).float().cpu())
    return torch.stack(rows)


def js_divergence(p_logits: Any, q_logits: Any) -> Any:
    """Jensen-Shannon divergence between softmax(p) and softmax(q) along the last axis."""
    torch = import_torch()
    p, q = torch.softmax(p_logits, -1), torch.softmax(q_logits, -1)
    m = 0.5 * (p + q)

    def kl(a: Any, b: Any) -> Any:
        return (a * (torch.log(a.clamp_min(1e-30)) - torch.log(b.clamp_min(1e-30)))).sum(-1)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def vector_key(model_identity: dict[str, Any], pairs: str, pos: list[str], neg: list[str], position: int) -> str:
    """The cache key of a vector: what it is computed from (no model load needed)."""
    return stable_hash({"model": model_identity, "pairs": pairs, "prompts": [pos, neg], "position": position,
                        "method": "mean-diff/v1"}, 24)


def compute_vector(model: str, pairs: str = DEFAULT_PAIRS, n: int = DEFAULT_N, position: int = -1,
                   device: str = "auto", dtype: str = "auto", cache: bool = True, out: str | Path | None = None,
                   target: TransformersTarget | None = None) -> SteeringVector:
    """The steering vectors of `model` for `pairs` (cached by model identity, pairs and position)."""
    torch = import_torch()
    target = target or TransformersTarget(model=model, device=device, dtype=dtype)
    pos, neg = load_pairs(pairs, int(n))
    if not pos or len(pos) != len(neg):
        raise UsageError(f"Pairs '{pairs}' gave {len(pos)} positive and {len(neg)} negative prompts; "
                         "need the same non-zero number of each.")
    ident = target.identity()
    key = vector_key(ident, pairs, pos, neg, position)
    path = Path(out) if out else cache_dir() / "steer" / f"{key}.pt"
    if cache and path.is_file():
        loaded = load_vector(path)
        if loaded.provenance.get("key") == key:
            log.info("steering vector from cache %s", path)
            return loaded
    t0 = time.perf_counter()
    a_pos, a_neg = activations(target, pos, position), activations(target, neg, position)
    diff = a_pos - a_neg
    vectors = diff.mean(0)  # layers x hidden
    n_search = min(SEARCH_LAYERS, vectors.shape[0])
    js = js_divergence(a_pos[:, :n_search], a_neg[:, :n_search]).mean(0)  # per layer
    best = int(torch.argmax(js))
    prov = {"key": key, "digest": stable_hash(vectors.tolist(), 16), "model": ident, "pairs": pairs,
            "n_pairs": len(pos), "position": position, "method": "mean(act_positive - act_negative), "
            "JS layer search (Trojan Activation Attack, arXiv:2311.09433)", "best_layer": best,
            "js_by_layer": [round(float(x), 8) for x in js], "norm_by_layer":
            [round(float(x), 6) for x in vectors.norm(dim=-1)], "layers": int(vectors.shape[0]),
            "hidden": int(vectors.shape[1]), "seconds": round(time.perf_counter() - t0, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    sv = SteeringVector(vectors, prov, path)
    save_vector(sv, path)
    return sv


def save_vector(sv: SteeringVector, path: Path) -> None:
    torch = import_torch()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"vectors": sv.vectors.contiguous(), "provenance": json.dumps(sv.provenance)}, tmp)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(sv.provenance, indent=1, ensure_ascii=False), encoding="utf-8")
    sv.path = path


def load_vector(path: str | Path) -> SteeringVector:
    """A vector written by `compute_vector` (torch.load with weights_only: no code runs)."""
    torch = import_torch()
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"Steering vector file not found: {path}. Compute one with "
                         "`babelsafe whitebox steer-vector --model MODEL --out FILE`.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return SteeringVector(data["vectors"].float(), json.loads(data["provenance"]), path)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise UsageError(f"{path} is not a babelsafe steering vector ({e}); recompute it.") from e


# ----------------------------------------------------------------------------------------------------
# Steering hooks and the target
# ----------------------------------------------------------------------------------------------------
def steering(model: Any, vector: Any, layer: int, coef: float, mode: str = "add") -> ContextManager[None]:
    """Hooks that add `coef * vector` to block `layer`'s output (mode add) or remove `coef` times the
    component along `vector` from every block's output (mode ablate)."""
    blocks = decoder_layers(model)
    if not 0 <= layer < len(blocks):
        raise UsageError(f"layer {layer} is out of range: the model has blocks 0-{len(blocks) - 1}.")
    param = next(model.parameters())
    v = vector.to(device=param.device, dtype=param.dtype)
    if mode == "add":
        return hooks(lambda: blocks[layer].register_forward_hook(edit_block_output(lambda h: h + coef * v)))
    if mode == "ablate":
        u = v / v.norm().clamp_min(1e-12)

        def project_out(h: Any) -> Any:
            return h - coef * (h @ u).unsqueeze(-1) * u
        return hooks(*[(lambda b=b: b.register_forward_hook(edit_block_output(project_out))) for b in blocks])
    raise UsageError(f"steering mode must be 'add' or 'ablate', got '{mode}'.")


_STEER_OPTIONS = {"model", "layer", "coef", "mode", "vector", "pairs", "n_pairs", "position", "batch_size",
                  "device", "dtype", "seed", "revision", "local_files_only", "trust_remote_code", "chat_template"}


class SteerTarget(TransformersTarget):
    """A transformers model with a steering vector added to (or ablated from) its residual stream.

    Options (also as `steer:model=M,layer=auto,coef=-4`): model; layer (block index, default auto = the
    JS layer search); coef (default -4 for add, 1 for ablate); mode (add | ablate); vector (a file from
    `babelsafe whitebox steer-vector`; else computed from `pairs` and cached); pairs (xstest |
    DATASET:LANG-vs-LANG | FILE.jsonl, default xstest); n_pairs (64); position (-1); and the
    transformers target's batch_size, device, dtype, seed, revision, local_files_only.
    """

    name = "steer"
    requires = ("model",)
    source = "Activation steering (Trojan Activation Attack, arXiv:2311.09433; refusal-direction ablation)"

    def __init__(self, model: str | None = None, layer: int | str | None = None, coef: float | None = None,
                 mode: str | None = None, vector: str | None = None, pairs: str | None = None,
                 n_pairs: int | None = None, position: int | None = None, batch_size: int | None = None,
                 device: str | None = None, dtype: str | None = None, seed: int | None = None,
                 revision: str | None = None, local_files_only: bool | None = None,
                 trust_remote_code: bool | None = None, chat_template: str | None = None, **plumbing: Any):
        given = {k: v for k, v in locals().items() if k in _STEER_OPTIONS and k != "model"}
        opts = merge_options(model, {**given, **plumbing}, _STEER_OPTIONS)
        if not opts.get("model"):
            raise UsageError("The steer target needs a model: steer:model=HUB_ID_OR_DIR,layer=auto,coef=-4 "
                             "[,mode=add|ablate][,vector=FILE.pt][,pairs=xstest].")
        layer = opts.pop("layer", "auto")
        self.layer: int | None = None if layer in (None, "auto") else int(layer)
        self.mode = str(opts.pop("mode", "add"))
        if self.mode not in ("add", "ablate"):
            raise UsageError(f"steering mode must be 'add' or 'ablate', got '{self.mode}'.")
        self.coef = float(opts.pop("coef", 1.0 if self.mode == "ablate" else -4.0))
        self.vector_path = opts.pop("vector", None)
        self.pairs = str(opts.pop("pairs", DEFAULT_PAIRS))
        self.n_pairs = int(opts.pop("n_pairs", DEFAULT_N))
        self.position = int(opts.pop("position", -1))
        super().__init__(**opts)
        self._vector: SteeringVector | None = None

    def _plain(self) -> TransformersTarget:
        """A plain target on the same weights (shared per-process cache), without the hooks."""
        return TransformersTarget(model=self.model, device=self.device_opt, dtype=self.dtype_opt,
                                  revision=self.revision, local_files_only=self.local_files_only)

    def vector(self) -> SteeringVector:
        if self._vector is None:
            if self.vector_path:
                self._vector = load_vector(self.vector_path)
            else:
                self._vector = compute_vector(self.model, self.pairs, self.n_pairs, self.position,
                                              target=self._plain())
        return self._vector

    def vector_ref(self) -> str:
        """What identifies the vector without computing it: the file's fingerprint, or the cache key."""
        if self.vector_path:
            from ..targets.llamacpp import file_fingerprint

            path = Path(str(self.vector_path)).expanduser()
            if not path.is_file():
                raise UsageError(f"Steering vector file not found: {path}. Compute one with "
                                 "`babelsafe whitebox steer-vector --model MODEL --out FILE`.")
            return "file:" + file_fingerprint(path)
        if self._vector is not None:
            return str(self._vector.provenance["key"])
        pos, neg = load_pairs(self.pairs, self.n_pairs)
        return vector_key(self._plain().identity(), self.pairs, pos, neg, self.position)

    def chosen_layer(self) -> int:
        return self.best_layer() if self.layer is None else self.layer

    def best_layer(self) -> int:
        return self.vector().best_layer

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident.update({"type": "steer", "steer_layer": "auto" if self.layer is None else self.layer,
                      "steer_coef": self.coef, "steer_mode": self.mode, "steer_vector": self.vector_ref()})
        return ident

    def load(self) -> Any:
        entry = super().load()
        sv = self.vector()
        hidden = int(getattr(entry.model.config, "hidden_size", sv.vectors.shape[1]))
        if tuple(sv.vectors.shape) != (len(decoder_layers(entry.model)), hidden):
            raise UsageError(f"The steering vector {sv.path} has shape {tuple(sv.vectors.shape)} but {self.model} "
                             f"has {len(decoder_layers(entry.model))} blocks of width {hidden}: it was computed "
                             "for another model. Recompute it for this one.")
        return entry

    def _intervention(self, entry: Any) -> ContextManager[None]:
        layer = self.chosen_layer()
        return steering(entry.model, self.vector().vectors[layer], layer, self.coef, self.mode)


def block_outputs(model: Any, input_ids: Any) -> list[Any]:
    """Every block's hidden-state output for `input_ids` (used by tests and analyses)."""
    torch = import_torch()
    seen: list[Any] = []
    blocks = decoder_layers(model)
    regs = [(lambda b=b: b.register_forward_hook(lambda _m, _i, o: seen.append(block_hidden(o).detach().clone())))
            for b in blocks]
    with hooks(*regs), torch.inference_mode():
        model(input_ids=input_ids)
    return seen
