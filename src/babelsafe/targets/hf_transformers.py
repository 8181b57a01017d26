"""Any Hugging Face causal LM, in-process through `transformers`, with batched generation.

The model is named by hub id or local directory. The tokenizer's chat template is applied (a plain
"Role: text" template when it has none); prompts are left-padded and generated together in batches of
`batch_size`. Concurrent `generate` calls are gathered into batches by a small micro-batcher, so the
runner gets batching without knowing about it; `generate_batch` is there for callers that batch
themselves. Device "auto" picks CUDA when present, then Apple MPS, else CPU.

Numerics note: with left padding, a prompt's greedy output can in rare near-tie cases depend on which
other prompts share its batch (and always depends on device/dtype, which are part of identity()).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, ContextManager

from ..errors import UsageError
from ..types import GenParams, Generation, Message, stable_hash
from .base import ProviderError
from .batching import MicroBatcher, run_in_batches
from .models import MODELS

log = logging.getLogger(__name__)

INSTALL_HF = 'pip install torch==2.13.0 "transformers>=4.44"'
FALLBACK_TEMPLATE = "plain"  # identity marker for the built-in "Role: text" template


def _import_backend() -> tuple[Any, Any]:
    """(torch, transformers), or a UsageError saying what to install."""
    try:
        import torch
        import transformers
    except ImportError as e:
        raise UsageError(
            f"The transformers target needs torch and transformers, which are not installed ({e}). "
            f"Install them with: {INSTALL_HF}   (pin torch==2.13.0 on CPU-only machines: a plain "
            "`pip install torch` may pull a multi-GB CUDA build; on a GPU machine follow pytorch.org).") from e
    return torch, transformers


def _apply_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    if not stop:
        return text, False
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def plain_template(messages: list[Message]) -> str:
    """The fallback chat format for tokenizers without a template."""
    lines = [f"{m.get('role', 'user').capitalize()}: {m.get('content', '')}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


# --------------------------------------------------------------------------------------------------------
# The target
# --------------------------------------------------------------------------------------------------------
class _Loaded:
    def __init__(self, model: Any, tokenizer: Any, device: str, dtype: Any, load_seconds: float):
        self.model, self.tokenizer, self.device, self.dtype = model, tokenizer, device, dtype
        self.load_seconds = load_seconds
        self.lock = threading.Lock()

_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


class TransformersTarget:
    """Any Hugging Face causal LM (hub name or local path), batched, on CUDA when present else CPU."""

    name = "transformers"
    requires = ("model",)  # options without which it cannot be built ("a|b": one of them)
    batched = True  # generate_batch(list_of_messages, params)
    source = "Hugging Face transformers (AutoModelForCausalLM + chat template)"
    languages = "any"  # those of the model
    license = "Apache-2.0 (babelsafe's wrapper); the model's license is on its model card"

    def __init__(self, model: str | None = None, batch_size: int = 8, device: str = "auto", dtype: str = "auto",
                 revision: str | None = None, trust_remote_code: bool = False, seed: int | None = None,
                 chat_template: str | None = None, gather_ms: float = 0.0, local_files_only: bool = False,
                 **_: Any):
        if not model:
            raise UsageError("The transformers target needs a model: --model HUB_ID or a local directory "
                             "(e.g. --model HuggingFaceTB/SmolLM2-135M-Instruct).")
        self.model = str(model)
        self.batch_size = max(1, int(batch_size))
        self.max_concurrency = 2 * self.batch_size  # one batch running while the next one fills
        self.device_opt = str(device or "auto")
        self.dtype_opt = str(dtype or "auto").lower()
        if self.dtype_opt != "auto" and self.dtype_opt not in _DTYPES:
            raise UsageError(f"Unknown dtype '{dtype}'. Use auto, float32, float16 or bfloat16.")
        self.revision = revision
        self.trust_remote_code = bool(trust_remote_code)
        self.seed = seed
        self.chat_template = chat_template
        self.local_files_only = bool(local_files_only)
        self._device: str | None = None
        self._loaded: _Loaded | None = None
        self._batcher = MicroBatcher(self._generate_rows, self.batch_size, gather_s=float(gather_ms) / 1000)
        self._identity: dict[str, Any] | None = None

    # -- resolution / identity --------------------------------------------------------------------------
    @property
    def local_path(self) -> Path | None:
        p = Path(self.model).expanduser()
        return p if p.is_dir() else None

    def device(self) -> str:
        if self._device is None:
            torch, _ = _import_backend()
            dev = self.device_opt
            if dev == "auto":
                if torch.cuda.is_available():
                    dev = "cuda"
                elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                    dev = "mps"
                else:
                    dev = "cpu"
            self._device = dev
        return self._device

    def dtype_name(self) -> str:
        if self.dtype_opt != "auto":
            return _DTYPES[self.dtype_opt]
        dev = self.device()
        if dev.startswith("cuda"):
            torch, _ = _import_backend()
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float32"  # CPU/MPS half precision is slow or lossy for generation

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            torch, transformers = _import_backend()
            ident: dict[str, Any] = {"type": "transformers", "backend_version": transformers.__version__,
                                     "torch_version": torch.__version__.split("+")[0],
                                     "device_type": self.device().split(":")[0], "dtype": self.dtype_name(),
                                     "chat_template": stable_hash(self.chat_template, 16) if self.chat_template
                                     else "tokenizer"}
            path = self.local_path
            if path is None:
                ident["model"] = self.model
                ident["revision"] = self.revision or "main"
            else:  # a local directory: name + content fingerprint of config, tokenizer and weight files
                from .llamacpp import file_fingerprint

                files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix in
                               {".json", ".safetensors", ".bin", ".model", ".txt", ".jinja"})
                ident["model"] = path.name
                ident["model_sha256"] = stable_hash([[f.name, file_fingerprint(f)] for f in files])
            self._identity = ident
        return dict(self._identity)

    # -- loading ------------------------------------------------------------------------------------------
    @property
    def load_seconds(self) -> float | None:
        return self._loaded.load_seconds if self._loaded else None

    def load(self) -> _Loaded:
        """Load tokenizer and model once per process for (model, revision, device, dtype)."""
        if self._loaded is not None:
            return self._loaded
        torch, transformers = _import_backend()
        device, dtype_name = self.device(), self.dtype_name()
        self._load_key = ("transformers", self.model, self.revision, device, dtype_name, self.trust_remote_code)

        def load() -> _Loaded:
            t0 = time.perf_counter()
            common = {"revision": self.revision, "trust_remote_code": self.trust_remote_code,
                      "local_files_only": self.local_files_only}
            dtype = getattr(torch, dtype_name)
            dkw = "dtype" if _version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.model, **common)
                model = transformers.AutoModelForCausalLM.from_pretrained(self.model, **common, **{dkw: dtype})
            except (OSError, ValueError) as e:
                raise UsageError(
                    f"Could not load the Hugging Face model '{self.model}': {e}. Pass a hub id "
                    "(downloads need network access, or a filled HF cache) or a local directory with "
                    "config.json, tokenizer files and weights.") from e
            model.to(device)
            model.eval()
            tok.padding_side = "left"
            if tok.pad_token is None:  # common for decoder-only models
                fallback = tok.eos_token or tok.unk_token or tok.convert_ids_to_tokens(0)
                tok.pad_token = fallback
            entry = _Loaded(model, tok, device, dtype, time.perf_counter() - t0)
            log.info("loaded %s on %s/%s in %.2fs", self.model, device, dtype_name, entry.load_seconds)
            return entry

        self._loaded = MODELS.acquire(self._load_key, load)
        return self._loaded

    # -- generation ---------------------------------------------------------------------------------------
    def format_prompt(self, messages: list[Message]) -> tuple[str, bool]:
        """(prompt text, whether the tokenizer should add its special tokens)."""
        tok = self.load().tokenizer
        template = self.chat_template or getattr(tok, "chat_template", None)
        if not template:
            return plain_template(messages), True
        try:
            text = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                           add_generation_prompt=True)
        except Exception as e:  # noqa: BLE001 - e.g. "System role not supported" (Gemma)
            if messages and messages[0].get("role") == "system" and len(messages) > 1:
                merged = [{"role": messages[1].get("role", "user"),
                           "content": f"{messages[0]['content']}\n\n{messages[1].get('content', '')}"},
                          *messages[2:]]
                text = tok.apply_chat_template(merged, chat_template=template, tokenize=False,
                                               add_generation_prompt=True)
            else:
                raise ProviderError("client", f"chat template failed: {e}", retryable=False) from e
        return text, False

    def _generate_rows(self, convs: list[list[Message]], params: GenParams) -> list[Generation | ProviderError]:
        """Blocking: one padded batch through model.generate. Per-row errors are returned, not raised."""
        torch, _ = _import_backend()
        entry = self.load()
        tok, model = entry.tokenizer, entry.model
        results: list[Generation | ProviderError | None] = [None] * len(convs)
        prompts: list[tuple[int, str, bool]] = []
        for i, conv in enumerate(convs):
            try:
                text, special = self.format_prompt(conv)
                prompts.append((i, text, special))
            except ProviderError as e:
                results[i] = e
        limit = _max_positions(model)
        rows: list[tuple[int, list[int]]] = []
        for i, text, special in prompts:
            ids = tok(text, add_special_tokens=special)["input_ids"]
            if limit and len(ids) >= limit:
                results[i] = ProviderError("client", f"prompt has {len(ids)} tokens; the model accepts {limit}",
                                           retryable=False)
            else:
                rows.append((i, ids))
        if rows:
            max_new = int(params.max_tokens)
            if limit:
                max_new = max(1, min(max_new, limit - max(len(ids) for _, ids in rows)))
            for i, gen in zip([i for i, _ in rows], self._run_model(torch, entry, [ids for _, ids in rows],
                                                                    params, max_new)):
                results[i] = gen
        return results  # type: ignore[return-value]

    def _run_model(self, torch: Any, entry: _Loaded, batch_ids: list[list[int]], params: GenParams,
                   max_new: int) -> list[Generation]:
        tok, model = entry.tokenizer, entry.model
        enc = tok.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt")
        input_ids = enc["input_ids"].to(entry.device)
        attention = enc["attention_mask"].to(entry.device)
        gc = _generation_config(model, tok, params, max_new)
        seed = params.seed if params.seed is not None else (self.seed if self.seed is not None else 0)
        oom = getattr(torch.cuda, "OutOfMemoryError", ())
        with entry.lock:
            t0 = time.perf_counter()
            torch.manual_seed(int(seed))
            try:
                with torch.inference_mode(), self._intervention(entry):
                    out = model.generate(input_ids=input_ids, attention_mask=attention, generation_config=gc)
            except oom as e:
                raise ProviderError("server", f"out of GPU memory (lower batch_size): {e}", retryable=False) \
                    from e
            except RuntimeError as e:
                raise ProviderError("server", f"transformers generate failed: {e}", retryable=False) from e
            latency = time.perf_counter() - t0
        eos = _eos_ids(model, tok)
        new = out[:, input_ids.shape[1]:].tolist()
        gens = []
        for row, prompt_len in zip(new, attention.sum(dim=1).tolist()):
            n, finish = len(row), "length"
            for j, t in enumerate(row):
                if t in eos:
                    n, finish = j, "stop"
                    break
            if finish == "length" and n < max_new:  # generation ended early for another reason
                finish = "stop"
            text = tok.decode(row[:n], skip_special_tokens=True)
            text, stopped = _apply_stop(text, params.stop)
            gens.append(Generation(text=text, finish_reason="stop" if stopped else finish,
                                   prompt_tokens=int(prompt_len), completion_tokens=n, latency_s=latency))
        return gens

    def _intervention(self, entry: _Loaded) -> ContextManager[Any]:
        """Hook for white-box subclasses (babelsafe.whitebox): a context entered around each forward pass,
        under the model's lock, so hooks it adds never leak into another target sharing the weights."""
        return contextlib.nullcontext()

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        from ..images.parts import has_images

        if has_images(messages):  # this backend loads causal LMs only (AutoModelForCausalLM)
            raise ProviderError("client", f"the transformers target runs text-only models and this probe has "
                                "images: use a vision model behind the openai target (e.g. vLLM serving it) or "
                                "the local target with --option mmproj=PATH.gguf.", retryable=False)
        if self._loaded is None:
            await asyncio.to_thread(self.load)
        return await self._batcher.submit(messages, params)

    async def generate_batch(self, list_of_messages: list[list[Message]], params: GenParams) -> list[Generation]:
        """Generate for many conversations, `batch_size` at a time; failed rows come back as error outcomes."""
        if self._loaded is None:
            await asyncio.to_thread(self.load)
        return await run_in_batches(self._generate_rows, list_of_messages, params, self.batch_size)

    async def aclose(self) -> None:
        """Release this instance's hold on the shared model; the last user frees it."""
        entry, self._loaded = self._loaded, None
        if entry is not None:
            MODELS.release(self._load_key, entry)


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def _max_positions(model: Any) -> int | None:
    cfg = model.config
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        val = getattr(cfg, attr, None)
        if isinstance(val, int) and val > 0:
            return val
    return None


def _eos_ids(model: Any, tok: Any) -> set[int]:
    ids: set[int] = set()
    for src in (getattr(model.generation_config, "eos_token_id", None), tok.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif isinstance(src, (list, tuple)):
            ids.update(int(x) for x in src)
    return ids


def _generation_config(model: Any, tok: Any, params: GenParams, max_new: int) -> Any:
    """The model's own generation config (eos ids, recommended penalties) with our parameters on top."""
    import copy

    gc = copy.deepcopy(model.generation_config)
    sample = params.temperature is not None and params.temperature > 0
    gc.max_new_tokens = max_new
    gc.max_length = None
    gc.min_new_tokens = None
    gc.do_sample = sample
    gc.num_beams = 1
    if sample:
        gc.temperature = float(params.temperature)
        gc.top_p = float(params.top_p) if params.top_p is not None else 1.0
        gc.top_k = None
    else:  # greedy: unset sampling knobs so transformers does not warn about them
        gc.temperature, gc.top_p, gc.top_k = None, None, None
    gc.pad_token_id = tok.pad_token_id
    eos = sorted(_eos_ids(model, tok))
    if eos:
        gc.eos_token_id = eos if len(eos) > 1 else eos[0]
    for k, v in (params.extra_body or {}).items():
        if k in {"top_k", "repetition_penalty", "no_repeat_ngram_size", "min_p", "typical_p"}:
            setattr(gc, k, v)
    return gc
