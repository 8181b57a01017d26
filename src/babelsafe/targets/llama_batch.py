"""Continuous batching for the `local` (llama.cpp) target: several chat requests decoded together.

One extra llama.cpp context on the already loaded model holds `n_seq` parallel sequences, each with its
own KV stream (`kv_unified=False`, so a sequence's cache is laid out exactly as in a context of its
own). One background thread runs the loop: admit waiting requests into free sequences, evaluate each
new prompt on its own (in the same n_batch chunks as llama-cpp-python; like Llama.generate, only the part
after the prefix the sequence's KV stream still holds from its previous request, e.g. the chat
template's system prompt), then decode one token for every
generating sequence in one `llama_decode` call. At 4 sequences the weights are read once per step for 4
tokens instead of 4 times, and Python's per-token work overlaps less with the model's.

Outputs at temperature 0 match the serial path (`Llama.create_chat_completion`) token for token: the
prompt tokens, stop strings and sampling parameters are taken from llama-cpp-python's own chat handler
(its `create_completion` call is intercepted, not re-implemented), the sampler chain is built the way
`Llama._init_sampler` builds it, and the stop / multi-byte / length rules mirror `_create_completion`.
tests/test_targets_local_batch.py checks this with the real SmolLM2 model. Requests using features
this loop does not implement (grammar, logit bias, logprobs, mirostat) take the serial path.
"""
from __future__ import annotations

import collections
import heapq
import logging
import random
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

Done = Callable[[dict[str, Any] | None, BaseException | None], None]

_UNSUPPORTED = ("grammar", "logit_bias", "logits_processor", "logprobs", "suffix")


class _Captured(Exception):
    def __init__(self, prompt: Any, kwargs: dict[str, Any]):
        super().__init__("captured")
        self.prompt, self.kwargs = prompt, kwargs


class _Capture:
    """Stands in for the Llama object inside llama-cpp-python's chat handler: everything is delegated
    except `create_completion`, whose arguments (the formatted prompt tokens, stop strings, sampling
    parameters) are captured instead of run."""

    def __init__(self, llm: Any):
        self.__dict__["_llm"] = llm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, prompt: Any, **kwargs: Any) -> Any:
        raise _Captured(prompt, kwargs)


def completion_request(llm: Any, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> tuple[list[int], dict]:
    """(prompt tokens, create_completion kwargs) exactly as `llm.create_chat_completion(messages, **kwargs)`
    would run them."""
    import llama_cpp

    proxy = _Capture(llm)
    try:
        llama_cpp.Llama.create_chat_completion(proxy, messages=messages, **kwargs)  # type: ignore[arg-type]
    except _Captured as c:
        prompt = c.prompt
        if isinstance(prompt, str):  # handlers that pass text: tokenized as _create_completion does
            raise NotImplementedError("text prompt from the chat handler")
        return list(prompt), c.kwargs
    raise RuntimeError("the chat handler did not call create_completion")


def supported(kw: dict[str, Any]) -> bool:
    """Whether the batched loop implements every option of this create_completion call."""
    if any(kw.get(k) is not None for k in _UNSUPPORTED) or kw.get("stream") or kw.get("echo"):
        return False
    # the chat formatter's own criterion (stop when the last evaluated token is a stop token) is mirrored;
    # any other criterion may read logits, which this loop does not keep
    crit = kw.get("stopping_criteria") or []
    if any(getattr(c, "__name__", "") != "stop_on_last_token" for c in crit):
        return False
    return not kw.get("mirostat_mode")


class _Seq:
    __slots__ = ("sid", "prompt", "max_tokens", "stops", "sampler", "done", "completion", "n_past", "last",
                 "multibyte_fix", "crit")

    def __init__(self, sid: int, prompt: list[int], max_tokens: int, stops: list[bytes], sampler: Any,
                 done: Done, crit: Any = None):
        self.sid, self.prompt, self.max_tokens, self.stops, self.crit = sid, prompt, max_tokens, stops, crit
        self.sampler, self.done = sampler, done
        self.completion: list[int] = []
        self.n_past = 0
        self.last = -1
        self.multibyte_fix = 0


class BatchEngine:
    """Decodes up to `n_seq` requests together on `llm`'s model (see the module docstring)."""

    def __init__(self, llm: Any, n_seq: int):
        import llama_cpp
        from llama_cpp import _internals as internals

        self.llm = llm
        self.n_seq = int(n_seq)
        self.n_ctx_seq = int(llm.n_ctx())  # each sequence gets the context size the serial path has
        self.n_batch = int(llm.n_batch)
        params = llama_cpp.llama_context_params()
        ctypes_copy(llm.context_params, params)
        params.n_ctx = self.n_ctx_seq * self.n_seq
        params.n_seq_max = self.n_seq
        params.kv_unified = False  # one KV stream per sequence: the same cache layout as serial calls
        self._lc = llama_cpp
        self.ctx = internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
        self.batch = internals.LlamaBatch(n_tokens=max(self.n_batch, self.n_seq), embd=0, n_seq_max=1,
                                          verbose=llm.verbose)
        self._internals = internals
        self._vocab = llm._model.vocab
        self._queue: collections.deque[tuple[list[int], dict[str, Any], Done]] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self.steps = 0
        self.max_active = 0
        # the tokens each sequence's KV stream holds from its last request: a new request in that sequence
        # evaluates only what follows their common prefix (the chat template's), as the serial path's
        # Llama.generate does with its one context
        self._kv: list[list[int]] = [[] for _ in range(self.n_seq)]
        self.reused_tokens = 0
        self._thread = threading.Thread(target=self._run, name="babelsafe-llama-batch", daemon=True)
        self._thread.start()

    # -- API ------------------------------------------------------------------------------------
    def submit(self, prompt: list[int], kw: dict[str, Any], done: Done) -> None:
        """Queue one completion; `done(result, None)` or `done(None, error)` is called from the loop thread
        with result = {"text", "finish_reason", "prompt_tokens", "completion_tokens"}."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the batch engine is closed")
            self._queue.append((prompt, kw, done))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.batch.close()
        self.ctx.close()

    # -- the loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        # the lowest free sequence id first, so the generating ids stay consecutive: a gap (0,2,3) is two
        # llama.cpp micro-batches per step (see _decode_step)
        free = list(range(self.n_seq))
        active: list[_Seq] = []
        while True:
            with self._cond:
                while not self._queue and not active and not self._closing:
                    self._cond.wait()
                if self._closing:
                    for _, _, done in self._queue:
                        done(None, RuntimeError("the local model was closed"))
                    self._queue.clear()
                    for s in active:
                        s.done(None, RuntimeError("the local model was closed"))
                    return
                new = []
                while self._queue and len(new) < len(free):
                    new.append(self._queue.popleft())
            for prompt, kw, done in new:  # prefill each new sequence on its own
                sid = heapq.heappop(free)
                try:
                    seq = self._start(sid, prompt, kw, done)
                except BaseException as e:  # noqa: BLE001 - reported to the caller, the loop goes on
                    heapq.heappush(free, sid)
                    done(None, e)
                    continue
                if seq is None:
                    heapq.heappush(free, sid)
                else:
                    active.append(seq)
            if new:  # a decode step's tokens in increasing sequence order: one llama.cpp micro-batch (below)
                active.sort(key=_by_sid)
            self.max_active = max(self.max_active, len(active))
            if not active:
                continue
            gen = [s for s in active if s.n_past > 0]
            if gen:
                try:
                    self._decode_step(gen)
                except BaseException as e:  # noqa: BLE001 - every sequence of this step failed
                    for s in gen:
                        self._finish(s, None, e)
                        active.remove(s)
                        heapq.heappush(free, s.sid)
                    continue
                for i, s in enumerate(gen):
                    if self._accept(s, s.sampler.sample(self.ctx, i)):
                        active.remove(s)
                        heapq.heappush(free, s.sid)

    def _start(self, sid: int, prompt: list[int], kw: dict[str, Any], done: Done) -> _Seq | None:
        lc = self._lc
        n_ctx = self.n_ctx_seq
        if len(prompt) >= n_ctx:  # the serial path's check and message
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
        max_tokens = kw.get("max_tokens")
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - len(prompt)
        max_tokens = max_tokens if max_tokens + len(prompt) < n_ctx else (n_ctx - len(prompt))
        stop = kw.get("stop") or []
        stop = stop if isinstance(stop, list) else [stop]
        seed = kw.get("seed")
        if seed is None:
            seed = random.Random(self.llm._seed).randint(0, 2**32)
        seq = _Seq(sid, prompt, max_tokens, [s.encode("utf-8") for s in stop], self._sampler(kw, seed), done,
                   kw.get("stopping_criteria") or None)
        kept, self._kv[sid] = self._kv[sid], []
        reuse = 0
        for a, t in zip(kept, prompt):
            if a != t:
                break
            reuse += 1
        if reuse >= len(prompt):  # the whole prompt is held (a repeated request): evaluated again in full,
            reuse = 0             # as the serial path resets for one, so the answer never depends on history
        if reuse and not lc.llama_memory_seq_rm(self.ctx.memory, sid, reuse, -1):
            reuse = 0
        if not reuse:
            lc.llama_memory_seq_rm(self.ctx.memory, sid, -1, -1)
        self.reused_tokens += reuse
        rest = prompt[reuse:]
        b = self.batch.batch
        for start in range(0, len(rest), self.n_batch):  # the serial path's Llama.eval chunks
            chunk = rest[start:start + self.n_batch]
            b.n_tokens = len(chunk)
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = reuse + start + i
                b.seq_id[i][0] = sid
                b.n_seq_id[i] = 1
                b.logits[i] = False
            b.logits[len(chunk) - 1] = True  # as Llama.eval: the last token of every chunk
            self.ctx.decode(self.batch)
        seq.n_past = len(prompt)
        if self._accept(seq, seq.sampler.sample(self.ctx, (len(rest) - 1) % self.n_batch)):
            return None
        return seq

    def _decode_step(self, gen: list[_Seq]) -> None:
        """One token for each sequence of `gen` in one llama_decode call.

        `gen` must be in increasing `sid` order. With one KV stream per sequence, llama.cpp splits a batch
        into micro-batches of consecutive sequence ids (split_equal, sequential: each id the previous + 1)
        and computes the graph once per micro-batch: ids 3,2,1,0 cost four 1-token steps, 0,2,3 two.
        In admission order that undid most of batching (measured: 134 of 142 steps split; see
        benchmarks/prof_local_batch.py).
        """
        b = self.batch.batch
        b.n_tokens = len(gen)
        for i, s in enumerate(gen):
            b.token[i] = s.last
            b.pos[i] = s.n_past
            b.seq_id[i][0] = s.sid
            b.n_seq_id[i] = 1
            b.logits[i] = True
        self.ctx.decode(self.batch)
        self.steps += 1
        for s in gen:
            s.n_past += 1

    def _accept(self, s: _Seq, token: int) -> bool:
        """One sampled token, by the rules of Llama._create_completion; True when the sequence is done."""
        llm = self.llm
        if s.crit is not None and s.crit(s.prompt + s.completion, None):  # Llama.generate returns early
            return self._finish(s, (llm.detokenize(s.completion, prev_tokens=s.prompt), "stop"), None)
        if self._lc.llama_vocab_is_eog(self._vocab, token):
            return self._finish(s, (llm.detokenize(s.completion, prev_tokens=s.prompt), "stop"), None)
        s.completion.append(token)
        s.last = token
        all_text = llm.detokenize(s.completion, prev_tokens=s.prompt)
        # Contains multi-byte UTF8 (the serial path's rule, kept verbatim)
        for k, char in enumerate(all_text[-3:]):
            k = 3 - k
            for num, pattern in [(2, 192), (3, 224), (4, 240)]:
                if num > k and pattern & char == pattern:
                    s.multibyte_fix = num - k
        if s.multibyte_fix > 0:
            s.multibyte_fix -= 1
            return False
        any_stop = [x for x in s.stops if x in all_text]
        if any_stop:
            return self._finish(s, self._after(s, all_text[: all_text.index(any_stop[0])], "stop"), None)
        if len(s.completion) >= s.max_tokens:
            return self._finish(s, self._after(s, llm.detokenize(s.completion, prev_tokens=s.prompt), "length"),
                                None)
        return False

    def _after(self, s: _Seq, text: bytes, finish: str) -> tuple[bytes, str]:
        """_create_completion's check after its loop: the criterion on the evaluated tokens (the last
        sampled token was not evaluated) turns any ending into a "stop" with the whole completion."""
        if s.crit is not None and s.crit(s.prompt + s.completion[:-1], None):
            return self.llm.detokenize(s.completion, prev_tokens=s.prompt), "stop"
        return text, finish

    def _finish(self, s: _Seq, out: tuple[bytes, str] | None, err: BaseException | None) -> bool:
        if err is None:  # the stream keeps what was evaluated (positions 0..n_past-1) for the next request
            self._kv[s.sid] = (s.prompt + s.completion)[: s.n_past]
        else:
            self._kv[s.sid] = []
            self._lc.llama_memory_seq_rm(self.ctx.memory, s.sid, -1, -1)
        s.sampler.close()
        if out is None:
            s.done(None, err)
        else:
            s.done({"text": out[0].decode("utf-8", errors="ignore"), "finish_reason": out[1],
                    "prompt_tokens": len(s.prompt), "completion_tokens": len(s.completion)}, None)
        return True

    def _sampler(self, kw: dict[str, Any], seed: int) -> Any:
        """The chain Llama._init_sampler builds for these parameters (no grammar, no logits processor)."""
        llm = self.llm
        sampler = self._internals.LlamaSampler()
        sampler.add_penalties(n_vocab=llm._n_vocab, penalty_last_n=llm.last_n_tokens_size,
                              penalty_repeat=kw.get("repeat_penalty", 1.0),
                              penalty_freq=kw.get("frequency_penalty", 0.0),
                              penalty_present=kw.get("presence_penalty", 0.0))
        temp = kw.get("temperature", 0.8)
        if temp < 0.0:
            sampler.add_dist(seed)
        elif temp == 0.0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(kw.get("top_k", 40))
            sampler.add_typical(kw.get("typical_p", 1.0), 1)
            sampler.add_top_p(kw.get("top_p", 0.95), 1)
            sampler.add_min_p(kw.get("min_p", 0.05), 1)
            sampler.add_temp(temp)
            sampler.add_dist(seed)
        return sampler


def _by_sid(s: _Seq) -> int:
    return s.sid


def ctypes_copy(src: Any, dst: Any) -> None:
    """Copy a ctypes Structure field by field."""
    for name, _ in src._fields_:
        setattr(dst, name, getattr(src, name))
