"""In-process offline batched generation with vLLM (GPU machines): `--target vllm --model HUB_ID`.

Concurrent `generate` calls from the runner are gathered into large batches (see
batching.MicroBatcher) and handed to `LLM.chat`, which applies the model's chat template and
schedules the batch with continuous batching. Each request carries its own seed, so sampled outputs do
not depend on batch composition.

Without vllm installed, the same GPU speed is available through its OpenAI-compatible server:
`vllm serve MODEL` then `--target openai --base-url http://127.0.0.1:8000/v1 --model MODEL`.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import threading
import time
from typing import Any

from ..errors import UsageError
from ..types import GenParams, Generation, Message
from .base import ProviderError, sampling_kwargs
from .batching import MicroBatcher, run_in_batches
from .models import MODELS

log = logging.getLogger(__name__)

VLLM_EXTRA_KEYS = frozenset({"top_k", "min_p", "repetition_penalty", "presence_penalty",
                             "frequency_penalty"})  # extra_body entries vLLM's SamplingParams take


def _vllm_installed() -> bool:
    if "vllm" in sys.modules and sys.modules["vllm"] is None:
        return False
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def missing_vllm_message(model: str) -> str:
    return (
        "The vllm target runs vLLM in-process, but vllm is not installed. Either install it on a machine with "
        f"a supported GPU: pip install vllm   (then: babelsafe run --target vllm --model {model}), or run vLLM "
        f"as a server and use the OpenAI-compatible target: vllm serve {model}   then: babelsafe run "
        f"--target openai --base-url http://127.0.0.1:8000/v1 --model {model}")


class VLLMTarget:
    """A Hugging Face model served in-process by vLLM with offline batched generation (needs a GPU)."""

    name = "vllm"
    requires = ("model",)  # options without which it cannot be built ("a|b": one of them)
    batched = True  # generate_batch(list_of_messages, params)
    source = "vLLM offline inference (LLM.chat + SamplingParams)"
    languages = "any"  # those of the model
    license = "Apache-2.0 (babelsafe's wrapper); the model's license is on its model card"

    def __init__(self, model: str | None = None, batch_size: int = 256, dtype: str = "auto",
                 revision: str | None = None, trust_remote_code: bool = False, seed: int | None = None,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 tensor_parallel_size: int = 1, quantization: str | None = None, enforce_eager: bool = False,
                 chat_template: str | None = None, gather_ms: float = 20.0, **_: Any):
        if not model:
            raise UsageError("The vllm target needs a model: --model HUB_ID (e.g. Qwen/Qwen2.5-0.5B-Instruct).")
        self.model = str(model)
        if not _vllm_installed():
            raise UsageError(missing_vllm_message(self.model))
        self.batch_size = max(1, int(batch_size))
        self.max_concurrency = 2 * self.batch_size
        self.dtype = str(dtype)
        self.revision = revision
        self.trust_remote_code = bool(trust_remote_code)
        self.seed = seed
        self.llm_kwargs = {"gpu_memory_utilization": float(gpu_memory_utilization),
                           "max_model_len": max_model_len, "tensor_parallel_size": int(tensor_parallel_size),
                           "quantization": quantization, "enforce_eager": bool(enforce_eager)}
        self.chat_template = chat_template
        self._llm: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None
        self._batcher = MicroBatcher(self._generate_rows, self.batch_size, gather_s=float(gather_ms) / 1000)

    def identity(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"type": "vllm", "model": self.model, "revision": self.revision or "main", "dtype": self.dtype,
                "backend_version": version("vllm"), "quantization": self.llm_kwargs["quantization"],
                "max_model_len": self.llm_kwargs["max_model_len"],
                "chat_template": "custom" if self.chat_template else "tokenizer"}

    def load(self) -> Any:
        """Create the vllm.LLM once per process for these options (kept until the process exits:
        vLLM cannot free a GPU engine reliably)."""
        if self._llm is not None:
            return self._llm
        key = ("vllm", self.model, self.revision, self.dtype, tuple(sorted(self.llm_kwargs.items())))

        def load() -> Any:
            try:
                import vllm
            except ImportError as e:
                raise UsageError(missing_vllm_message(self.model)) from e
            kwargs = {k: v for k, v in self.llm_kwargs.items() if v is not None}
            t0 = time.perf_counter()
            try:
                llm = vllm.LLM(model=self.model, revision=self.revision, dtype=self.dtype,
                               trust_remote_code=self.trust_remote_code,
                               seed=self.seed if self.seed is not None else 0, **kwargs)
            except Exception as e:  # noqa: BLE001 - CUDA/driver/model errors all end the run clearly
                raise UsageError(f"vLLM could not load '{self.model}': {type(e).__name__}: {e}") from e
            self.load_seconds = time.perf_counter() - t0
            log.info("vLLM loaded %s in %.1fs", self.model, self.load_seconds)
            return llm

        self._llm = MODELS.acquire(key, load)
        return self._llm

    def _sampling(self, params: GenParams) -> Any:
        import vllm

        kw = sampling_kwargs(params, self.seed, VLLM_EXTRA_KEYS)
        return vllm.SamplingParams(**kw)

    def _chat(self, convs: list[list[Message]], sp: Any) -> list[Any]:
        kwargs: dict[str, Any] = {"use_tqdm": False, "add_generation_prompt": True}
        if self.chat_template:
            kwargs["chat_template"] = self.chat_template
        return self._llm.chat(convs, sp, **kwargs)

    def _generate_rows(self, convs: list[list[Message]], params: GenParams) -> list[Generation | ProviderError]:
        self.load()
        sp = self._sampling(params)
        with self._lock:
            t0 = time.perf_counter()
            try:
                outs: list[Any] = self._chat(convs, sp)
            except ValueError:
                # one bad row (e.g. a prompt longer than max_model_len) fails the whole call: retry one by one
                outs = []
                for conv in convs:
                    try:
                        outs.extend(self._chat([conv], sp))
                    except ValueError as e:
                        outs.append(ProviderError("client", f"vLLM rejected the request: {e}", retryable=False))
            except Exception as e:  # noqa: BLE001
                raise ProviderError("server", f"vLLM failed: {type(e).__name__}: {e}", retryable=False) from e
            latency = time.perf_counter() - t0
        results: list[Generation | ProviderError] = []
        for out in outs:
            if isinstance(out, ProviderError):
                results.append(out)
                continue
            comp = out.outputs[0]
            finish = comp.finish_reason if comp.finish_reason in ("stop", "length") else (comp.finish_reason
                                                                                           or "stop")
            results.append(Generation(text=comp.text, finish_reason=finish,
                                      prompt_tokens=len(out.prompt_token_ids or []),
                                      completion_tokens=len(comp.token_ids), latency_s=latency))
        return results

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        if self._llm is None:
            await asyncio.to_thread(self.load)
        return await self._batcher.submit(messages, params)

    async def generate_batch(self, list_of_messages: list[list[Message]], params: GenParams) -> list[Generation]:
        if self._llm is None:
            await asyncio.to_thread(self.load)
        return await run_in_batches(self._generate_rows, list_of_messages, params, self.batch_size)

    async def aclose(self) -> None:
        self._llm = None  # the process-wide engine stays for other instances; vLLM frees it at exit
