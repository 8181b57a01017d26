"""Hugging Face vision-language models in-process (`--target transformers-vision`).

Loads `AutoProcessor` + `AutoModelForImageTextToText` (LLaVA, Qwen2-VL, Idefics, SmolVLM, Gemma 3, ...).
OpenAI-style messages are mapped to the processor's chat format: `image_url` data URLs become PIL images
and `{"type": "image"}` placeholders, text parts stay text; the processor's chat template builds the
prompt and `processor(text=..., images=...)` the tensors. One request at a time (greedy or sampled),
under a lock in a worker thread; text-only messages work too.
"""
from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from typing import Any

from ..errors import UsageError
from ..types import GenParams, Generation, Message
from .base import ProviderError
from .hf_transformers import TransformersTarget, _apply_stop, _generation_config, _import_backend, _version_tuple

_MODELS: dict[tuple, tuple[Any, Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def to_processor_messages(messages: list[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
    """(chat messages with {"type": "image"} placeholders, PIL images in order) from OpenAI-style ones."""
    from ..images.media import check_bytes, pillow

    pil = pillow()
    out, images = [], []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str) or c is None:
            out.append({"role": m.get("role", "user"), "content": [{"type": "text", "text": c or ""}]})
            continue
        parts = []
        for p in c:
            if p.get("type") == "text":
                parts.append({"type": "text", "text": p.get("text", "")})
            elif p.get("type") == "image_url":
                url = (p.get("image_url") or {}).get("url", "")
                if not url.startswith("data:") or ";base64," not in url:
                    raise ProviderError("client", "the transformers-vision target takes images as base64 data "
                                        "URLs (babelsafe's own probes always are)", retryable=False)
                data = base64.b64decode(url.split(",", 1)[1])
                check_bytes(data, "image")
                images.append(pil.open(io.BytesIO(data)).convert("RGB"))
                parts.append({"type": "image"})
            else:
                raise ProviderError("client", f"unsupported content part {p.get('type')!r}", retryable=False)
        out.append({"role": m.get("role", "user"), "content": parts})
    return out, images


class TransformersVisionTarget(TransformersTarget):
    """A Hugging Face vision-language model (hub id or local directory) that reads image + text."""

    name = "transformers-vision"
    requires = ("model",)
    batched = False
    generate_batch = None  # one request at a time (the parent's batching is for text-only models)
    source = "Hugging Face transformers (AutoProcessor + AutoModelForImageTextToText + chat template)"
    languages = "any"
    license = "Apache-2.0 (babelsafe's wrapper); the model's license is on its model card"

    def __init__(self, model: str | None = None, **kw: Any):
        if not model:
            raise UsageError("The transformers-vision target needs a model: --model HUB_ID or a local directory "
                             "of a vision-language model (processor + weights).")
        super().__init__(model=model, batch_size=1, **kw)
        self.max_concurrency = 1

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "type": "transformers-vision"}

    def load(self) -> Any:  # type: ignore[override]
        torch, transformers = _import_backend()
        device, dtype_name = self.device(), self.dtype_name()
        key = (self.model, self.revision, device, dtype_name)
        with _MODELS_LOCK:
            if key not in _MODELS:
                common = {"revision": self.revision, "trust_remote_code": self.trust_remote_code,
                          "local_files_only": self.local_files_only}
                dkw = "dtype" if _version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
                auto = getattr(transformers, "AutoModelForImageTextToText", None) or \
                    getattr(transformers, "AutoModelForVision2Seq")
                try:
                    proc = transformers.AutoProcessor.from_pretrained(self.model, **common)
                    model = auto.from_pretrained(self.model, **common, **{dkw: getattr(torch, dtype_name)})
                except (OSError, ValueError) as e:
                    raise UsageError(f"Could not load the vision-language model '{self.model}': {e}. Give a "
                                     "hub id (network or a filled HF cache) or a local directory with the "
                                     "processor files and weights.") from e
                model.to(device).eval()
                _MODELS[key] = (model, proc, threading.Lock())
        return _MODELS[key]

    def generate_sync(self, messages: list[Message], params: GenParams) -> Generation:
        torch, _ = _import_backend()
        model, proc, lock = self.load()
        chat, images = to_processor_messages(messages)
        tok = getattr(proc, "tokenizer", proc)
        template = self.chat_template or getattr(proc, "chat_template", None) or getattr(tok, "chat_template", None)
        if not template:
            raise ProviderError("client", f"{self.model} has no chat template; pass --option chat_template=...",
                                retryable=False)
        prompt = proc.apply_chat_template(chat, chat_template=template, add_generation_prompt=True, tokenize=False)
        enc = proc(text=[prompt], images=images or None, return_tensors="pt")
        enc = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in enc.items()}
        n_in = int(enc["input_ids"].shape[1])
        gc = _generation_config(model, tok, params, int(params.max_tokens))
        seed = params.seed if params.seed is not None else (self.seed if self.seed is not None else 0)
        with lock:
            t0 = time.perf_counter()
            torch.manual_seed(int(seed))
            try:
                with torch.inference_mode():
                    out = model.generate(**enc, generation_config=gc)
            except RuntimeError as e:
                raise ProviderError("server", f"transformers generate failed: {e}", retryable=False) from e
            latency = time.perf_counter() - t0
        new = out[0, n_in:].tolist()
        eos = gc.eos_token_id if isinstance(gc.eos_token_id, list) else [gc.eos_token_id]
        n = next((i for i, t in enumerate(new) if t in eos), len(new))
        text, stopped = _apply_stop(tok.decode(new[:n], skip_special_tokens=True), params.stop)
        finish = "stop" if stopped or n < len(new) or n < params.max_tokens else "length"
        return Generation(text=text, finish_reason=finish, prompt_tokens=n_in, completion_tokens=n,
                          latency_s=latency)

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        return await asyncio.to_thread(self.generate_sync, messages, params)

    async def aclose(self) -> None:
        return None
