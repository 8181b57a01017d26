"""Screen a fine-tuning set (OpenAI chat JSONL) for safety-eroding examples before training.

    babelsafe defend scan train.jsonl --judge refusal [--threshold 0.01] [--out flagged.jsonl]

Fine-tuning on even benign data can erode a model's safety; some examples erode it directly. Flags:
- identity_shift    a system prompt that tells the model it has no rules / is someone unrestricted
                    (rules in defense/data/scan_rules.yaml, several languages)
- jailbreak_prompt  a user turn with a jailbreak framing (same file)
- unsafe_completion an assistant turn a safety judge labels "unsafe"
- complies_under_jailbreak  with a refusal judge: an assistant turn that complies after an identity-shifting
                    system prompt or a jailbreak-framed user turn (the data teaches the model to give in)
- refuse_then_comply  with a refusal judge: an assistant turn labelled partial_refusal (the data teaches
                    "I can't ... however, here is ...")
Reported by language (of the first user turn) and category (the example's "category" field when present,
else the flag kind). `flagged_share > threshold` is what makes the CLI exit with code 1.
"""
from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import LocalContext
from ..errors import DataError, UsageError
from ..types import Generation, Probe, Sample, stable_hash
from ..text import detect_language, prior_of
from .lang import load_data
from .screen import REFUSAL, SAFETY, build_judge, message_text, vocabulary


@dataclass
class Rule:
    id: str
    kind: str
    where: str
    severity: int
    pattern: re.Pattern[str]


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Rules from defense/data/scan_rules.yaml, or from your own YAML file with the same shape."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if path else load_data("scan_rules.yaml")
    rules = []
    for r in (data or {}).get("rules") or []:
        try:
            pat = re.compile("|".join(f"(?:{p})" for p in r["patterns"]), re.IGNORECASE)
            rules.append(Rule(r["id"], r["kind"], r.get("where", "any"), int(r.get("severity", 1)), pat))
        except (KeyError, re.error, TypeError) as e:
            raise UsageError(f"Bad scan rule {r!r}: {e}") from e
    return rules


@dataclass
class Flag:
    kind: str
    severity: int
    rule: str | None = None
    turn: int | None = None
    label: str | None = None


@dataclass
class ScanResult:
    path: Path
    judge: str
    examples: int = 0
    bad_lines: list[int] = field(default_factory=list)
    flagged: dict[int, list[Flag]] = field(default_factory=dict)  # line number -> flags
    languages: Counter = field(default_factory=Counter)
    flagged_languages: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    assistant_turns: Counter = field(default_factory=Counter)  # per language
    refusals: Counter = field(default_factory=Counter)  # refusing assistant turns per language
    min_severity: int = 1

    @property
    def flagged_share(self) -> float:
        return len(self.flagged) / self.examples if self.examples else 0.0

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "judge": self.judge, "examples": self.examples,
                "bad_lines": self.bad_lines, "flagged": len(self.flagged),
                "flagged_share": round(self.flagged_share, 4), "by_kind": dict(self.kinds),
                "by_language": {lang: {"examples": n, "flagged": self.flagged_languages[lang],
                                       "assistant_refusal_share": round(self.refusals[lang] /
                                                                        self.assistant_turns[lang], 4)
                                       if self.assistant_turns[lang] else None}
                                for lang, n in sorted(self.languages.items())},
                "by_category": dict(self.categories)}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _languages_arg(languages: str | list[str] | None) -> tuple[str, ...]:
    from ..languages import parse_list

    return tuple(parse_list(languages) or ())


async def _scan(path: Path, judge_name: str, judge_options: dict[str, Any], rules: list[Rule], min_severity: int,
                concurrency: int, ctx: Any, languages: tuple[str, ...] = ()) -> ScanResult:
    ctx = ctx or LocalContext()
    judge = build_judge(judge_name, judge_options, ctx)
    kind = vocabulary(judge)
    res = ScanResult(path, judge_name, min_severity=min_severity)
    sem = asyncio.Semaphore(concurrency)
    examples: list[tuple[int, list[dict[str, Any]], str | None, str | None]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                msgs = rec["messages"]
                if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
                    raise TypeError("messages is not a list of objects")
            except (ValueError, KeyError, TypeError):
                res.bad_lines.append(n)
                continue
            cat = rec.get("category") or (rec.get("metadata") or {}).get("category") if isinstance(rec, dict) else None
            own = rec.get("language") if isinstance(rec.get("language"), str) else None
            examples.append((n, msgs, cat, own))
    if not examples and res.bad_lines:
        raise DataError(f"{path}: no line is an OpenAI chat example ({{\"messages\": [...]}}); "
                        f"bad lines: {res.bad_lines[:10]}")

    async def one(n: int, msgs: list[dict[str, Any]], cat: str | None, own: str | None) -> None:
        flags: list[Flag] = []
        user0 = next((message_text(m.get("content")) for m in msgs if m.get("role") == "user"), "")
        lang = detect_language(user0, prior_of(own, languages)) if user0.strip() else "und"
        res.examples += 1
        res.languages[lang] += 1
        shifted = False
        jailbreak_turns: set[int] = set()
        for i, m in enumerate(msgs):
            role = m.get("role")
            text = _norm(message_text(m.get("content")))
            for r in rules:
                if r.where not in ("any", role):
                    continue
                if r.pattern.search(text):
                    flags.append(Flag(r.kind, r.severity, r.id, i))
                    if role == "system":
                        shifted = True
                    else:
                        jailbreak_turns.add(i)
        system = [m for m in msgs if m.get("role") == "system"]
        last_user = ""
        jail = False
        for i, m in enumerate(msgs):
            role = m.get("role")
            if role == "user":
                last_user = message_text(m.get("content"))
                jail = i in jailbreak_turns
                continue
            if role != "assistant" or not last_user:
                continue
            answer = message_text(m.get("content"))
            sample = Sample("scan", f"{n}:{i}", lang, last_user)
            probe = Probe(sample, [*system, {"role": "user", "content": last_user}], lang,
                          meta={"answer_language": lang})
            async with sem:
                v = await judge.judge(probe, Generation(text=answer))
            res.assistant_turns[lang] += 1
            if kind == REFUSAL:
                if v.label in ("full_refusal", "partial_refusal"):
                    res.refusals[lang] += 1
                if v.label == "partial_refusal":
                    flags.append(Flag("refuse_then_comply", 2, turn=i, label=v.label))
                elif v.label == "full_compliance" and (shifted or jail):
                    flags.append(Flag("complies_under_jailbreak", 3, turn=i, label=v.label))
            elif kind == SAFETY and v.label == "unsafe":
                flags.append(Flag("unsafe_completion", 3, turn=i, label=v.label))
        flags = [f for f in flags if f.severity >= min_severity]
        if flags:
            res.flagged[n] = flags
            res.flagged_languages[lang] += 1
            for k in {f.kind for f in flags}:
                res.kinds[k] += 1
            res.categories[cat or flags[0].kind] += 1

    await asyncio.gather(*(one(n, m, c, o) for n, m, c, o in examples))
    res.flagged = dict(sorted(res.flagged.items()))
    if isinstance(ctx, LocalContext):
        await ctx.aclose()
    return res


def scan(path: str | Path, judge: str = "refusal", judge_options: dict[str, Any] | None = None,
         rules: str | Path | None = None, min_severity: int = 1, concurrency: int = 16, out: str | Path | None = None,
         ctx: Any = None, languages: str | list[str] | None = None) -> ScanResult:
    """Scan a chat fine-tuning JSONL; with `out`, write the flagged examples (line, flags, example) as JSONL.

    `languages` (the set's languages) is the prior of language detection: a short line is counted in one
    of them unless it is confidently in another; an example's own "language" field comes first."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"File not found: {path}")
    res = asyncio.run(_scan(path, judge, judge_options or {}, load_rules(rules), min_severity, concurrency, ctx,
                                 _languages_arg(languages)))
    if out is not None:
        lines = path.read_text(encoding="utf-8").splitlines()
        with Path(out).open("w", encoding="utf-8") as f:
            for n, flags in res.flagged.items():
                f.write(json.dumps({"line": n, "flags": [vars(x) for x in flags],
                                    "example_sha": stable_hash(lines[n - 1], 16),
                                    "example": json.loads(lines[n - 1])}, ensure_ascii=False) + "\n")
    return res
