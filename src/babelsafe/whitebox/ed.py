"""Emulated Disalignment (ED): decode from the contrast of a base model and its aligned version.

Method (Zhou et al., "Emulated Disalignment: Safety Alignment for Large Language Models May Backfire!",
arXiv:2402.12343; github.com/ZHZisZZ/emulated-disalignment; paraphrased in babelsafe's method notes):
at every step the next-token scores are combined as

    s_ED = (1 + alpha) * s_base - alpha * s_aligned,      alpha >= 0

and the next token is argmax(s_ED) (temperature 0) or a sample from softmax(s_ED / T). Raw logits are
combined, as in the reference decoder; this equals combining log-probabilities because each model's
normaliser cancels in the softmax. alpha = 0 is the base model alone; larger alpha pushes further away
from what alignment added. Paper pairs: Llama-2-7b x -chat alpha 0.3, Mistral-7B x -Instruct 0.6,
llama-7b x vicuna-7b 0.6, alpaca-7b x beaver-7b 2.0 (demo).

The two models see different prompts: the aligned model its chat template, the base model a plain
"# Query: ... # Response:" prefix (`base_template=chat` gives it the chat template too, for pairs of
chat models). Generated tokens are appended to both prefixes in lockstep, so both models must share a
vocabulary. Generation stops at an end-of-sequence token, a GenParams stop string or, with the query
template, when the text starts a new "# Query"/"# Response" section (the reference stops on these too;
it also suppresses EOS, which babelsafe does not, so answers can end naturally).

Backends: transformers (CPU/CUDA, KV-cached, one conversation at a time) and llama.cpp for GGUF files
(logits of the last evaluated token). Cost: two forward passes per generated token.
"""
from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import threading
import time
from typing import Any

from ..errors import UsageError
from ..types import GenParams, Generation, Message
from ..targets.base import ProviderError
from .hooks import import_torch, merge_options

log = logging.getLogger(__name__)

PAPER_ALPHA = 0.3  # the Llama-2 pair's value; the paper's pairs use 0.3-2.0
QUERY_STOPS = ("# Query", "# Response")
_OPTIONS = {"model", "aligned", "base", "alpha", "backend", "device", "dtype", "base_template", "seed",
            "n_ctx", "n_threads", "top_k"}


def ed_scores(base: Any, aligned: Any, alpha: float) -> Any:
    """The ED combination (1 + alpha) * base - alpha * aligned (numpy or torch arrays)."""
    if alpha == 0:
        return base * 1.0  # exactly the base scores, even where the aligned ones are -inf (masked)
    return (1.0 + alpha) * base - alpha * aligned


def query_prompt(messages: list[Message]) -> str:
    """The base model's plain prompt: the conversation as '# Query:' / '# Response:' sections."""
    parts: list[str] = []
    for m in messages:
        role, text = m.get("role", "user"), m.get("content", "")
        if role == "system":
            parts.append(text.strip() + "\n\n")
        elif role == "assistant":
            parts.append(f"# Response:\n{text}\n\n")
        else:
            parts.append(f"# Query:\n{text}\n\n")
    return "".join(parts) + "# Response:\n"


def choose(scores: Any, temperature: float, top_p: float | None, top_k: int | None, rng: Any) -> int:
    """Greedy (temperature 0) or a sample from softmax(scores / T) with optional top-k / top-p."""
    import numpy as np

    s = np.asarray(scores, dtype=np.float64)
    if not temperature or temperature <= 0:
        return int(np.argmax(s))
    z = s / float(temperature)
    if top_k:
        kth = np.partition(z, -int(top_k))[-int(top_k)]
        z = np.where(z < kth, -np.inf, z)
    z = z - np.max(z)
    p = np.exp(z)
    p /= p.sum()
    if top_p is not None and 0 < top_p < 1:
        order = np.argsort(-p)
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), top_p) + 1)]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))


# ----------------------------------------------------------------------------------------------------
# Logit sources: start(prompt ids) -> last logits; step(token) -> next logits
# ----------------------------------------------------------------------------------------------------
class HFLogits:
    """Next-token logits from a transformers model with a KV cache."""

    def __init__(self, target: Any):
        self.torch = import_torch()
        self.target = target  # a TransformersTarget: shares the per-process model cache
        self.entry = target.load()
        self.past: Any = None
        # transformers >= 5.2x names the KV cache `cache` (argument and output); older ones past_key_values
        params = inspect.signature(self.entry.model.forward).parameters
        self.cache_name = "cache" if "cache" in params else "past_key_values"

    def tokenize(self, messages: list[Message], chat: bool) -> list[int]:
        tok = self.entry.tokenizer
        if chat:
            text, special = self.target.format_prompt(messages)
        else:
            text, special = query_prompt(messages), True
        return list(tok(text, add_special_tokens=special)["input_ids"])

    def _forward(self, ids: list[int]) -> Any:
        torch = self.torch
        x = torch.tensor([ids], device=self.entry.device)
        with torch.inference_mode():
            out = self.entry.model(input_ids=x, use_cache=True, **{self.cache_name: self.past})
        self.past = getattr(out, self.cache_name, None)
        return out.logits[0, -1].float().cpu().numpy()

    def start(self, ids: list[int]) -> Any:
        self.past = None
        return self._forward(ids)

    def step(self, token: int) -> Any:
        return self._forward([token])

    def vocab(self) -> int:
        return len(self.entry.tokenizer)

    def decode(self, ids: list[int]) -> str:
        return self.entry.tokenizer.decode(ids, skip_special_tokens=True)

    def eos(self) -> set[int]:
        from ..targets.hf_transformers import _eos_ids

        return _eos_ids(self.entry.model, self.entry.tokenizer)

    def limit(self) -> int | None:
        from ..targets.hf_transformers import _max_positions

        return _max_positions(self.entry.model)

    def lock(self) -> threading.Lock:
        return self.entry.lock


_LLAMA: dict[tuple, Any] = {}
_LLAMA_LOCK = threading.Lock()


@atexit.register
def _close_llamas() -> None:
    """Free llama.cpp contexts before interpreter teardown (their __del__ fails once modules are gone)."""
    with _LLAMA_LOCK:
        for llm in _LLAMA.values():
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        _LLAMA.clear()


class LlamaLogits:
    """Next-token logits from a GGUF model through llama-cpp-python (its own context per role, since
    each holds its own KV cache)."""

    def __init__(self, target: Any, role: str, n_ctx: int, n_threads: int | None):
        from ..targets.llamacpp import _import_llama, default_threads

        self.llama_cpp = _import_llama()
        self.target = target  # a LlamaCppTarget (path resolution and identity)
        key = (str(target.model_path), n_ctx, n_threads, role)
        with _LLAMA_LOCK:
            llm = _LLAMA.get(key)
            if llm is None:
                threads = int(n_threads) if n_threads else default_threads()
                try:
                    llm = self.llama_cpp.Llama(model_path=str(target.model_path), n_ctx=n_ctx, n_threads=threads,
                                               n_threads_batch=threads, verbose=False)
                except (ValueError, RuntimeError, OSError) as e:
                    raise UsageError(f"llama.cpp could not load {target.model_path}: {e}") from e
                _LLAMA[key] = llm
        self.llm = llm
        self._lock = threading.Lock()

    def tokenize(self, messages: list[Message], chat: bool) -> list[int]:
        if chat:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            meta = self.llm.metadata
            template = meta.get("tokenizer.chat_template")
            if not template:
                raise UsageError(f"{self.target.model_path.name} has no chat template: use base_template=query.")
            vocab = self.llm._model  # noqa: SLF001 - token texts for the template's bos/eos
            bos = vocab.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
            eos = vocab.token_get_text(self.llm.token_eos()) if self.llm.token_eos() >= 0 else ""
            text = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=messages).prompt
            return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return self.llm.tokenize(query_prompt(messages).encode("utf-8"), add_bos=True, special=False)

    def _logits(self) -> Any:
        import numpy as np

        ptr = self.llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).astype(np.float64)

    def start(self, ids: list[int]) -> Any:
        self.llm.reset()
        self.llm.eval(ids)
        return self._logits()

    def step(self, token: int) -> Any:
        self.llm.eval([token])
        return self._logits()

    def vocab(self) -> int:
        return self.llm.n_vocab()

    def decode(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids).decode("utf-8", errors="ignore")

    def eos(self) -> set[int]:
        return {self.llm.token_eos()} - {-1}

    def limit(self) -> int | None:
        return self.llm.n_ctx()

    def lock(self) -> threading.Lock:
        return self._lock


# ----------------------------------------------------------------------------------------------------
# The target
# ----------------------------------------------------------------------------------------------------
def _is_gguf(model: str) -> bool:
    from ..targets.llamacpp import BUNDLED_ALIASES

    return str(model).lower().endswith(".gguf") or str(model).strip().lower() in BUNDLED_ALIASES


class EDTarget:
    """Emulated Disalignment: decode from (1+alpha)*base - alpha*aligned next-token scores.

    Options (also as `ed:aligned=A,base=B,alpha=0.3`): aligned, base (hub ids / model directories, or
    .gguf files / 'smollm2' for llama.cpp), alpha (default 0.3, >= 0), base_template (query | chat,
    default query), backend (auto | transformers | llamacpp), device, dtype (transformers), n_ctx
    (default 2048), n_threads (llama.cpp), seed, top_k.
    """

    name = "ed"
    requires = ("aligned", "base")
    batched = False
    source = "Zhou et al., Emulated Disalignment, arXiv:2402.12343 (github.com/ZHZisZZ/emulated-disalignment)"
    languages = "any"  # those of the models
    license = "Apache-2.0 (babelsafe's decoder); the models' licenses are on their model cards"
    max_concurrency = 1  # one conversation at a time, two models in lockstep

    def __init__(self, model: str | None = None, aligned: str | None = None, base: str | None = None,
                 alpha: float | None = None, base_template: str | None = None, backend: str | None = None,
                 device: str | None = None, dtype: str | None = None, n_ctx: int | None = None,
                 n_threads: int | None = None, seed: int | None = None, top_k: int | None = None,
                 **plumbing: Any):
        given = {"aligned": aligned, "base": base, "alpha": alpha, "base_template": base_template,
                 "backend": backend, "device": device, "dtype": dtype, "n_ctx": n_ctx, "n_threads": n_threads,
                 "seed": seed, "top_k": top_k, **plumbing}
        opts = merge_options(model, given, _OPTIONS)
        self.aligned, self.base = opts.get("aligned"), opts.get("base")
        if not self.aligned or not self.base:
            raise UsageError("The ed target needs both models: ed:aligned=CHAT_MODEL,base=BASE_MODEL[,alpha=0.3] "
                             "(hub ids, local directories, or .gguf files / 'smollm2' for llama.cpp).")
        try:
            self.alpha = float(opts.get("alpha", PAPER_ALPHA))
        except (TypeError, ValueError) as e:
            raise UsageError(f"alpha must be a number >= 0, got {opts.get('alpha')!r}.") from e
        if self.alpha < 0:
            raise UsageError(f"alpha must be >= 0 (the paper's w = -alpha), got {self.alpha}.")
        self.base_template = str(opts.get("base_template", "query"))
        if self.base_template not in ("query", "chat"):
            raise UsageError(f"base_template must be 'query' or 'chat', got '{self.base_template}'.")
        backend = str(opts.get("backend", "auto"))
        if backend == "auto":
            ggufs = [_is_gguf(self.aligned), _is_gguf(self.base)]
            if any(ggufs) and not all(ggufs):
                raise UsageError("ed: both models must use the same backend (two .gguf files, or two "
                                 "transformers models).")
            backend = "llamacpp" if all(ggufs) else "transformers"
        if backend not in ("transformers", "llamacpp"):
            raise UsageError(f"ed backend must be auto, transformers or llamacpp, got '{backend}'.")
        self.backend = backend
        self.seed = opts.get("seed")
        self.top_k = opts.get("top_k")
        if backend == "transformers":
            from ..targets.hf_transformers import TransformersTarget

            kw = {"device": opts.get("device", "auto"), "dtype": opts.get("dtype", "auto")}
            self._targets = (TransformersTarget(model=self.aligned, **kw), TransformersTarget(model=self.base, **kw))
        else:
            from ..targets.llamacpp import LlamaCppTarget

            self._targets = (LlamaCppTarget(model=self.aligned), LlamaCppTarget(model=self.base))
            self.n_ctx, self.n_threads = int(opts.get("n_ctx", 2048)), opts.get("n_threads")
        self._sources: tuple[Any, Any] | None = None
        self._load_lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return {"type": "ed", "alpha": self.alpha, "backend": self.backend, "base_template": self.base_template,
                "top_k": self.top_k, "aligned": self._targets[0].identity(), "base": self._targets[1].identity()}

    def load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._sources is None:
                if self.backend == "transformers":
                    a, b = HFLogits(self._targets[0]), HFLogits(self._targets[1])
                else:
                    a = LlamaLogits(self._targets[0], "aligned", self.n_ctx, self.n_threads)
                    b = LlamaLogits(self._targets[1], "base", self.n_ctx, self.n_threads)
                if a.vocab() != b.vocab():
                    raise UsageError(f"ed: the aligned and base models have different vocabularies ({a.vocab()} "
                                     f"vs {b.vocab()} tokens); ED needs a base model and its own fine-tune.")
                self._sources = (a, b)
        return self._sources

    def generate_sync(self, messages: list[Message], params: GenParams) -> Generation:
        """Blocking lockstep decoding of one conversation."""
        import numpy as np

        aligned, base = self.load()
        try:
            a_ids = aligned.tokenize(messages, chat=True)
            b_ids = base.tokenize(messages, chat=self.base_template == "chat")
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a template that rejects a system message
            raise ProviderError("client", f"ed: could not format the prompt: {e}", retryable=False) from e
        max_new = int(params.max_tokens)
        for src, ids in ((aligned, a_ids), (base, b_ids)):
            lim = src.limit()
            if lim and len(ids) >= lim:
                raise ProviderError("client", f"prompt has {len(ids)} tokens; the model accepts {lim}", retryable=False)
            if lim:
                max_new = max(1, min(max_new, lim - len(ids)))
        seed = params.seed if params.seed is not None else (self.seed if self.seed is not None else 0)
        rng = np.random.default_rng(int(seed))
        top_k = (params.extra_body or {}).get("top_k", self.top_k)
        stops = list(params.stop or []) + (list(QUERY_STOPS) if self.base_template == "query" else [])
        eos = aligned.eos() | base.eos()
        n_vocab = aligned.vocab()
        locks = sorted({id(aligned.lock()): aligned.lock(), id(base.lock()): base.lock()}.items())
        out: list[int] = []
        finish = "length"
        t0 = time.perf_counter()
        for _, lk in locks:
            lk.acquire()
        try:
            la, lb = aligned.start(a_ids), base.start(b_ids)
            for _ in range(max_new):
                s = ed_scores(np.asarray(lb[:n_vocab], dtype=np.float64), np.asarray(la[:n_vocab], dtype=np.float64),
                              self.alpha)
                tok = choose(s, params.temperature, params.top_p, top_k, rng)
                if tok in eos:
                    finish = "stop"
                    break
                out.append(tok)
                if stops and any(st in aligned.decode(out) for st in stops):
                    finish = "stop"
                    break
                if len(out) < max_new:
                    la, lb = aligned.step(tok), base.step(tok)
        except ProviderError:
            raise
        except Exception as e:  # noqa: BLE001 - backend failures become stored error outcomes
            raise ProviderError("server", f"ed decoding failed: {type(e).__name__}: {e}", retryable=False) from e
        finally:
            for _, lk in reversed(locks):
                lk.release()
        text = aligned.decode(out)
        cut = min((text.find(st) for st in stops if st in text), default=-1)
        if cut >= 0:
            text = text[:cut].rstrip()
        return Generation(text=text, finish_reason=finish, prompt_tokens=len(a_ids), completion_tokens=len(out),
                          latency_s=time.perf_counter() - t0)

    async def generate(self, messages: list[Message], params: GenParams) -> Generation:
        return await asyncio.to_thread(self.generate_sync, messages, params)

    async def aclose(self) -> None:
        for t in self._targets:
            close = getattr(t, "aclose", None)
            if close is not None and getattr(t, "_loaded", None) is not None:
                await close()
        self._sources = None
