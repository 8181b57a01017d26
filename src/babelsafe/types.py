"""The records that flow through the pipeline: Sample -> Probe -> Generation -> Verdict.

Plain slotted dataclasses (not pydantic): hundreds of thousands are created per run and validation
happens once, at the edges (dataset loaders, spec parsing).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

# {"role": "user"|"system"|"assistant", "content": str | list of OpenAI-style content parts}; inside
# babelsafe an image part is {"type": "image_ref", "sha256": ..., "mime": ...} (see babelsafe.images)
Message = dict[str, Any]

# Generation outcomes. Only "ok" and "content_filter" are answers; "error" never counts in rates.
OK, ERROR, CONTENT_FILTER = "ok", "error", "content_filter"

# A judge that failed returns this label (vocabularies and label classes: babelsafe.labels).
JUDGE_ERROR = "judge_error"


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
_string = json.encoder.encode_basestring  # a str's JSON as _CANONICAL writes it (non-ASCII kept)


def fast_encode(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """`encoder.encode` through one C encoder made once: JSONEncoder.encode builds a new one on every
    call (about half the cost of encoding a short message list). Used only where it writes exactly
    what `encoder.encode` writes (checked here, else `encoder.encode` itself, e.g. without the C
    accelerator or on another Python's private signature). No check for circular references."""
    make = getattr(json.encoder, "c_make_encoder", None)
    probe: list[Any] = [{"b": 1, "a": [0.5, None, True, "ü\n\"\u2028", {"z": 2, "y": -1e300, "": []}]}, "x", 3]
    if getattr(encoder.default, "__func__", None) is not json.JSONEncoder.default:
        probe.append(Path("p"))  # an object only a `default` can encode
    try:
        strings = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
        enc = make(None, encoder.default, strings, encoder.indent, encoder.key_separator,  # type: ignore[misc]
                   encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)
        if encoder.indent is None and "".join(enc(probe, 0)) == encoder.encode(probe):
            return lambda obj: "".join(enc(obj, 0))
    except Exception:  # noqa: BLE001 - use the public encoder
        pass
    return encoder.encode


#: The JSON stable_hash hashes: sorted keys, no spaces, non-ASCII kept, str() for other types.
canonical_json: Callable[[Any], str] = fast_encode(_CANONICAL)


def canonical_messages(messages: list[Message]) -> str:
    """canonical_json(messages), the same text, written directly for plain messages (a dict of exactly
    a str "role" and a str "content", the keys in sorted order): the sorting encoder costs 3x that."""
    out = []
    for m in messages:
        if type(m) is dict and len(m) == 2:
            content, role = m.get("content"), m.get("role")
            if type(content) is str and type(role) is str:
                out.append(f'{{"content":{_string(content)},"role":{_string(role)}}}')
                continue
        return canonical_json(messages)
    return f"[{','.join(out)}]"


def hash_json(data: str, n: int = 32) -> str:
    """sha256 of an already canonical JSON text, hex-truncated to n chars."""
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:n]


def stable_hash(obj: Any, n: int = 32) -> str:
    """sha256 of the canonical JSON of obj (sorted keys), hex-truncated to n chars."""
    return hash_json(canonical_json(obj), n)


def probe_key(sample_key: str, language: str, messages_json: str, chain: list[dict[str, Any]]) -> str:
    """Probe.key from its parts, with the messages' canonical JSON computed once by the caller (the
    runner reuses it for the probe row, the cache key and the call record): the JSON of a list is its
    items' JSON joined by commas, so this is stable_hash([sample_key, language, messages, chain], 24)."""
    return hash_json(f"[{_string(sample_key)},{_string(language)},{messages_json},"
                     f"{canonical_json(chain) if chain else '[]'}]", 24)


@dataclass(slots=True)
class Sample:
    """One dataset item in one language."""

    dataset: str
    id: str
    language: str
    prompt: str
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"type": ..., "label": "safe", "tags": [...]}
    # images shown with the prompt: paths, bytes or babelsafe.images.media.Image (never stored in meta;
    # the runner stores each once in the run's images/ folder and the probe refers to it by hash)
    images: list[Any] = field(default_factory=list)
    _key: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def key(self) -> str:
        """stable_hash([dataset, id, language, prompt], 24), computed once (the store's sample row and
        every probe of the sample use it; samples are not changed after they are made)."""
        k = self._key
        if k is None:
            d, i, lang, p = self.dataset, self.id, self.language, self.prompt
            k = self._key = (hash_json(f"[{_string(d)},{_string(i)},{_string(lang)},{_string(p)}]", 24)
                             if type(d) is str and type(i) is str and type(lang) is str and type(p) is str
                             else stable_hash([d, i, lang, p], 24))
        return k


@dataclass(slots=True)
class Probe:
    """What is sent to a target: messages built from a sample by a chain of transforms."""

    sample: Sample
    messages: list[Message]
    language: str  # language the probe is written in (may differ from the sample's after translation)
    chain: list[dict[str, Any]] = field(default_factory=list)  # one entry per transform step
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"decode": "caesar:3"} for post-processing

    @property
    def transform(self) -> str:
        """The chain as a short name, e.g. 'translate>aim'; 'none' when untransformed."""
        return ">".join(s["name"] for s in self.chain) or "none"

    @property
    def key(self) -> str:
        return probe_key(self.sample.key, self.language, canonical_messages(self.messages), self.chain)

    @property
    def prompt_text(self) -> str:
        """The last user message's text (what a judge sees as the query; image parts left out)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                c = m.get("content", "")
                if isinstance(c, str):
                    return c
                from .images.parts import text_of

                return text_of(c)
        return ""


@dataclass(slots=True)
class GenParams:
    """Generation parameters; part of every cache key."""

    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """dataclasses.asdict(self); written out for the usual plain values (numbers, a list of strings,
        no extra body), which asdict's recursive deep copy makes the same (part of every cache key)."""
        t, m, p, s, stop, extra = (self.temperature, self.max_tokens, self.top_p, self.seed, self.stop,
                                   self.extra_body)
        if (type(t) in _ATOMIC and type(m) in _ATOMIC and type(p) in _ATOMIC and type(s) in _ATOMIC
                and type(extra) is dict and not extra
                and (stop is None or type(stop) is list and all(type(x) is str for x in stop))):
            return {"temperature": t, "max_tokens": m, "top_p": p, "seed": s,
                    "stop": None if stop is None else list(stop), "extra_body": {}}
        return asdict(self)


_ATOMIC = frozenset({int, float, bool, str, type(None)})  # values copy.deepcopy returns as they are


@dataclass(slots=True)
class Generation:
    """A target's answer, or the error that prevented one."""

    text: str | None
    outcome: str = OK  # OK | ERROR | CONTENT_FILTER
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None  # human-readable, never contains secrets
    error_kind: str | None = None  # rate_limit | server | timeout | connection | bad_response | client
    attempts: int = 1
    cached: bool = False
    decoded: str | None = None  # text after the chain's post-processing (e.g. cipher decoding)
    cache_key: str | None = None  # set by the runner: the key of the stored call that produced this
    trace: list[dict[str, Any]] | None = None  # a multi-step task's steps (agent loop), for the judges
    # what a wrapper (defense layer) actually sent to the model for this answer, innermost first:
    # [{"cache_key", "messages"}]; stored in the call record so it shows e.g. the safety system prompt
    sent: list[dict[str, Any]] | None = None

    @property
    def answer(self) -> str:
        """The text a judge should read."""
        return self.decoded if self.decoded is not None else (self.text or "")


@dataclass(slots=True)
class Verdict:
    judge: str
    label: str  # from the judge's vocabulary, or JUDGE_ERROR
    score: float | None = None
    rationale: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. back-translation, categories
