"""Small transformers helpers shared by the white-box methods: option parsing, model loading, finding
decoder blocks and attention projections, and scoped forward hooks (added on enter, removed on exit).

torch/transformers are imported lazily: `import babelsafe.whitebox` works on the default install and a
method that needs them says what to install.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from ..errors import UsageError

INSTALL_WHITEBOX = "pip install 'babelsafe[whitebox]' torch==2.13.0"


def import_torch() -> Any:
    """torch, or a UsageError saying what to install."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        raise UsageError(
            f"White-box methods on transformers models need torch and transformers ({e}). Install them "
            f"with: {INSTALL_WHITEBOX}   (pin torch==2.13.0 on CPU machines: a plain `pip install torch` "
            "may pull a multi-GB CUDA build).") from e
    return torch


def kv_options(text: str | None, raw: tuple[str, ...] = ()) -> dict[str, Any]:
    """'aligned=A,base=B,alpha=0.3' -> {'aligned': 'A', 'base': 'B', 'alpha': 0.3}.

    The compact target form `ed:aligned=...,base=...` reaches a target as its `model` string; a string
    without '=' is returned as {'model': text}. Keys in `raw` keep their text (e.g. heads=3.10)."""
    if not text:
        return {}
    if "=" not in text:
        return {"model": text}
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"Bad option '{part}' in '{text}': expected key=value pairs separated by commas "
                             "(e.g. ed:aligned=MODEL,base=MODEL,alpha=0.3).")
        val = yaml.safe_load(v.strip()) if v.strip() and k.strip() not in raw else v.strip()
        out[k.strip()] = v.strip() if isinstance(val, (dict, list)) or val is None else val
    return out


# options the runner offers every target that takes **kwargs (HTTP plumbing): accepted and ignored
RUNNER_PLUMBING = frozenset({"timeout", "max_connections", "base_url", "api_key_env"})


def merge_options(model: str | None, given: dict[str, Any], known: set[str], raw: tuple[str, ...] = ()
                  ) -> dict[str, Any]:
    """Options from the compact `model` string merged under the explicit keyword options; unknown keys
    give a UsageError listing the valid ones (a typo must not silently run the plain model)."""
    opts = kv_options(model, raw)
    for k, v in given.items():
        if v is not None and k not in RUNNER_PLUMBING:
            opts[k] = v
    bad = sorted(set(opts) - known)
    if bad:
        raise UsageError(f"Unknown option(s) {', '.join(bad)}. Valid options: {', '.join(sorted(known))}.")
    return opts


def cache_dir() -> Path:
    """Where computed artefacts (steering vectors) are cached: $BABELSAFE_CACHE, else
    $XDG_CACHE_HOME/babelsafe, else ~/.cache/babelsafe."""
    env = os.environ.get("BABELSAFE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "babelsafe"


# ----------------------------------------------------------------------------------------------------
# Model structure
# ----------------------------------------------------------------------------------------------------
def decoder_layers(model: Any) -> list[Any]:
    """The decoder blocks of a causal LM (Llama/Mistral/Qwen/Gemma/SmolLM, GPT-2, GPT-NeoX)."""
    for path in ("model.layers", "model.model.layers", "transformer.h", "gpt_neox.layers",
                 "model.decoder.layers"):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if obj is not None:
            return list(obj)
    raise UsageError(f"Cannot find the decoder blocks of {type(model).__name__}: white-box methods support "
                     "Llama-style (model.layers), GPT-2 (transformer.h) and GPT-NeoX models.")


def head_layout(model: Any) -> tuple[int, int, int]:
    """(layers, query heads per layer, head dim)."""
    cfg = model.config
    n_heads = int(getattr(cfg, "num_attention_heads", 0) or getattr(cfg, "n_head", 0))
    if not n_heads:
        raise UsageError(f"{type(model).__name__} config has no num_attention_heads.")
    head_dim = getattr(cfg, "head_dim", None) or int(cfg.hidden_size) // n_heads
    return len(decoder_layers(model)), n_heads, int(head_dim)


def query_projection(layer: Any) -> Any:
    """The query projection of a decoder block (Llama-style `self_attn.q_proj`)."""
    attn = getattr(layer, "self_attn", None)
    q = getattr(attn, "q_proj", None) if attn is not None else None
    if q is None:
        raise UsageError("Head ablation needs separate query projections (self_attn.q_proj, as in Llama, "
                         "Mistral, Qwen, Gemma, SmolLM); this model fuses Q, K and V.")
    return q


def output_projection(layer: Any) -> Any:
    """The attention output projection (`self_attn.o_proj`): its input is the heads' outputs side by side."""
    attn = getattr(layer, "self_attn", None)
    o = getattr(attn, "o_proj", None) if attn is not None else None
    if o is None:
        raise UsageError("This model has no self_attn.o_proj: head ablation supports Llama-style attention.")
    return o


# ----------------------------------------------------------------------------------------------------
# Scoped hooks
# ----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def hooks(*registrations: Callable[[], Any]) -> Iterator[None]:
    """Run each `register()` (returning a torch hook handle) on enter; remove every handle on exit."""
    handles = []
    try:
        for register in registrations:
            handles.append(register())
        yield
    finally:
        for h in handles:
            h.remove()


def edit_block_output(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """A forward hook that replaces a decoder block's hidden-state output by `fn(hidden)`; blocks return
    a tensor or a tuple whose first item is the hidden states, depending on the transformers version."""
    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)
    return hook


def block_hidden(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output


def resolve_device(device: str) -> str:
    torch = import_torch()
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_hf(model: str, device: str = "auto", dtype: str = "auto", **options: Any) -> Any:
    """A loaded (model, tokenizer) from the transformers target's per-process cache, so a white-box
    target and a plain `transformers` target on the same model share one copy of the weights."""
    import_torch()
    from ..targets.hf_transformers import TransformersTarget

    t = TransformersTarget(model=model, device=device, dtype=dtype, **options)
    return t, t.load()
