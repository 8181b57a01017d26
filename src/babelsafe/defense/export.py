"""Safety fine-tuning data from a judged run (MultiJail's Self-Defense idea).

    babelsafe defend export runs/x --format sft --out data.jsonl --refusal-target '{"type": "openai", ...}'

From the run's store: prompts answered unsafely (a safety judge's "unsafe", or a refusal judge's
full_compliance on a harmful prompt) get a refusal in the prompt's language, written by the refusal target
(or, with none, babelsafe's own refusal text for that language) and kept only if the `refusal` judge labels
it a full refusal in that language. Benign prompts (samples.meta label "benign") that were refused get a
helpful answer from the helpful target, kept only if the refusal judge says full_compliance. Formats: SFT
(OpenAI chat fine-tuning JSONL: {"messages": [...]}) and DPO (chosen = the new answer, rejected = the
model's answer in the run; `dpo_style` "trl" -> {"prompt","chosen","rejected"} as message lists, "openai"
-> {"input": {"messages"}, "preferred_output", "non_preferred_output"}). One example per distinct prompt.
Model calls go through a RunCaller on `defense_cache.sqlite` in the run dir, so re-exports are free.

Recipes: "unsafe-answers" (default) writes refusals only where the model answered a harmful prompt unsafely;
"self-defense" (MultiJail's Self-Defense, Deng et al., ICLR 2024, Sec. 5) writes a refusal for EVERY harmful
prompt of the run, in each prompt's language, so a plain run over -l en,zh,bn yields refusals in all three
whatever the model answered. Both add helpful answers for refused benign prompts. `ExportResult.notes` says
what was exported and why (the CLI prints it).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, UsageError
from ..spec import parse_target
from ..labels import CONTENT_FILTER, is_benign_prompt, is_refusal, is_unsafe
from ..results.readers import RunReader
from ..types import ERROR, GenParams, stable_hash
from .lang import language_name, prompt, refusal_text, refusals

log = logging.getLogger(__name__)

REFUSAL, HELPFUL = "refusal", "helpful"
UNSAFE_ANSWERS, SELF_DEFENSE = "unsafe-answers", "self-defense"
RECIPES = (UNSAFE_ANSWERS, SELF_DEFENSE)


@dataclass
class Candidate:
    """A prompt from the run that needs a better answer."""

    kind: str  # refusal | helpful
    messages: list[dict[str, str]]
    language: str
    category: str | None
    dataset: str
    item_id: str
    target: str
    rejected: str
    label: str

    @property
    def prompt_text(self) -> str:
        return next((m.get("content", "") for m in reversed(self.messages) if m.get("role") == "user"), "")


@dataclass
class Example:
    candidate: Candidate
    chosen: str
    source: str  # target identity label or "template"


@dataclass
class ExportResult:
    examples: list[Example]
    records: list[dict[str, Any]]
    stats: Counter = field(default_factory=Counter)
    out: Path | None = None
    hf_path: Path | None = None
    notes: list[str] = field(default_factory=list)  # what was exported and why, for the user


def judges_in_run(run_dir: str | Path) -> dict[str, set[str]]:
    """judge -> the labels it gave in the run."""
    with RunReader(run_dir) as r:
        return r.judge_labels()


def find_candidates(run_dir: str | Path, judge: str | None = None, recipe: str = UNSAFE_ANSWERS,
                    counts: Counter | None = None) -> tuple[list[Candidate], str]:
    """(prompts that need a refusal or a helpful answer, judge used), de-duplicated by prompt. `counts`
    (when given) receives why each judged answer was or was not a candidate."""
    if recipe not in RECIPES:
        raise UsageError(f"--recipe must be one of {', '.join(RECIPES)}, not '{recipe}'.")
    counts = counts if counts is not None else Counter()
    run_dir = Path(run_dir)
    judges = judges_in_run(run_dir)
    if not judges:
        raise DataError(f"{run_dir} has no verdicts; judge the run first (e.g. --judge refusal).")
    if judge is None:
        judge = "refusal" if "refusal" in judges else sorted(judges)[0]
    elif judge not in judges:
        raise UsageError(f"The run has no verdicts from judge '{judge}'. It has: {', '.join(sorted(judges))}.")
    with RunReader(run_dir) as r:
        rows = r.candidate_rows(judge)
    seen: set[str] = set()
    out: list[Candidate] = []
    for msgs, lang, cat, ds, item, plabel, target, text, decoded, outcome, label in rows:
        benign = is_benign_prompt(plabel)
        answer = decoded if decoded is not None else (text or "")
        if outcome == CONTENT_FILTER:
            label = label or CONTENT_FILTER
        if label is None:
            continue
        refused = is_refusal(label)
        unsafe = is_unsafe(label, not benign)
        kind = HELPFUL if benign and refused else REFUSAL if unsafe or (recipe == SELF_DEFENSE and not benign) \
            else None
        messages = [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in msgs]
        key = stable_hash([kind, messages])
        if key in seen:
            continue
        seen.add(key)
        why = ("benign_refused" if refused else "benign_answered") if benign else \
            "harmful_unsafe" if unsafe else "harmful_refused" if refused else "harmful_other"
        counts[why] += 1
        counts[f"language:{lang}"] += 1
        if kind is None:
            continue
        out.append(Candidate(kind, messages, lang, cat, ds, item, target, answer, label))
    return out, judge


async def _fill(cands: list[Candidate], run_dir: Path, refusal_target: Any, helpful_target: Any,
                stats: Counter, max_tokens: int) -> list[Example]:
    from ..judges.refusal import RefusalJudge
    from ..engine.caller import RunCaller
    from ..spec import RunSpec
    from ..results import Store

    judge = RefusalJudge(off_language="invalid")  # fine-tuning data must be in the prompt's language
    store = Store(run_dir / "defense_cache.sqlite")
    ctx = RunCaller(RunSpec(out=str(run_dir)), store)
    examples: list[Example] = []
    try:
        rt = ctx.target(refusal_target) if refusal_target else None
        ht = ctx.target(helpful_target) if helpful_target else None
        params = GenParams(temperature=0.0, max_tokens=max_tokens)

        async def one(c: Candidate) -> None:
            name = language_name(c.language)
            if c.kind == REFUSAL:
                if rt is None:
                    if c.language not in refusals():
                        stats["refusal_no_template"] += 1
                        return
                    text, source = refusal_text(c.language), "template"
                else:
                    msgs = [{"role": "system", "content": prompt("refusal_writer", language=name)},
                            {"role": "user", "content": c.prompt_text}]
                    g = await ctx.call(rt, msgs, params, purpose="defend-refusal")
                    if g.outcome == ERROR:
                        stats["refusal_call_failed"] += 1
                        return
                    text, source = (g.text or "").strip(), "refusal_target"
                v = judge.classify(text, c.prompt_text, c.language)
                if v.label != "full_refusal":
                    stats["refusal_rejected_by_judge"] += 1
                    return
            else:
                if ht is None:
                    stats["helpful_no_target"] += 1
                    return
                msgs = [{"role": "system", "content": prompt("helpful_writer", language=name)}] + \
                       [m for m in c.messages if m["role"] != "system"]
                g = await ctx.call(ht, msgs, params, purpose="defend-helpful")
                if g.outcome == ERROR:
                    stats["helpful_call_failed"] += 1
                    return
                text, source = (g.text or "").strip(), "helpful_target"
                v = judge.classify(text, c.prompt_text, c.language)
                if v.label != "full_compliance":
                    stats["helpful_rejected_by_judge"] += 1
                    return
            examples.append(Example(c, text, source))
            stats[f"{c.kind}_kept"] += 1

        await asyncio.gather(*(one(c) for c in cands))
    finally:
        await ctx.aclose()
        store.close()
    key = {id(c): i for i, c in enumerate(cands)}
    examples.sort(key=lambda e: key[id(e.candidate)])
    return examples


def to_record(e: Example, fmt: str, dpo_style: str = "trl") -> dict[str, Any] | None:
    c = e.candidate
    if fmt == "sft":
        return {"messages": c.messages + [{"role": "assistant", "content": e.chosen}]}
    if not c.rejected.strip() or (c.kind == REFUSAL and is_refusal(c.label)):
        return None  # nothing to prefer against (a content filter, or a refusal already: self-defense)
    chosen = [{"role": "assistant", "content": e.chosen}]
    rejected = [{"role": "assistant", "content": c.rejected}]
    if dpo_style == "openai":
        return {"input": {"messages": c.messages}, "preferred_output": chosen, "non_preferred_output": rejected}
    return {"prompt": c.messages, "chosen": chosen, "rejected": rejected}


def explain(recipe: str, judge: str, counts: Counter, stats: Counter, n_records: int) -> list[str]:
    """Sentences saying what was exported and why (distinct prompts of the run)."""
    langs = sorted(k.split(":", 1)[1] for k in counts if k.startswith("language:"))
    hu, hr, br = counts["harmful_unsafe"], counts["harmful_refused"], counts["benign_refused"]
    notes = [f"Judge '{judge}', recipe {recipe}: the run has {hu + hr + counts['harmful_other']} distinct harmful "
             f"and {br + counts['benign_answered']} benign prompts in {len(langs)} language(s) ({', '.join(langs)})."]
    if recipe == UNSAFE_ANSWERS:
        notes.append(f"{hu} harmful prompt(s) were answered unsafely and get a refusal; {hr} the model already "
                     "refused are not exported.")
        if hr:
            notes.append("MultiJail's Self-Defense trains on a refusal for every harmful prompt in every language: "
                         "add --recipe self-defense to export those too.")
    else:
        notes.append(f"Self-Defense: every harmful prompt gets a refusal in its language ({hu} answered unsafely, "
                     f"{hr} already refused in the run).")
    notes.append(f"{br} refused benign prompt(s) get a helpful answer"
                 + ("." if stats["helpful_no_target"] == 0 else " only with --helpful-target (none given)."))
    dropped = {k: v for k, v in stats.items() if k.endswith(("_rejected_by_judge", "_no_template", "_failed"))}
    if dropped:
        notes.append("Not exported: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(dropped.items()))
                     + " (a written answer is kept only when the refusal judge confirms it in the prompt's "
                       "language).")
    notes.append(f"{n_records} example(s) written.")
    return notes


def export(run_dir: str | Path, fmt: str = "sft", out: str | Path | None = None,
           refusal_target: str | dict[str, Any] | None = None, helpful_target: str | dict[str, Any] | None = None,
           judge: str | None = None, dpo_style: str = "trl", hf: bool = True, max_tokens: int = 512,
           recipe: str = UNSAFE_ANSWERS) -> ExportResult:
    """Build and write the training set; returns the examples, the written records, counters and notes."""
    if fmt not in ("sft", "dpo"):
        raise UsageError(f"--format must be sft or dpo, not '{fmt}'.")
    if dpo_style not in ("trl", "openai"):
        raise UsageError(f"--dpo-style must be trl or openai, not '{dpo_style}'.")
    run_dir = Path(run_dir)
    counts: Counter = Counter()
    cands, used = find_candidates(run_dir, judge, recipe, counts)
    stats: Counter = Counter({"candidates_refusal": sum(c.kind == REFUSAL for c in cands),
                              "candidates_helpful": sum(c.kind == HELPFUL for c in cands)})
    stats["judge:" + used] = 1
    examples = asyncio.run(_fill(cands, run_dir, parse_target(refusal_target),
                                 parse_target(helpful_target), stats, max_tokens)) if cands else []
    records: list[dict[str, Any]] = []
    kept: list[Example] = []
    seen: set[str] = set()
    for e in examples:
        r = to_record(e, fmt, dpo_style)
        if r is None:
            stats["dpo_no_rejected"] += 1
            continue
        h = stable_hash(r)
        if h in seen:
            continue
        seen.add(h)
        records.append(r)
        kept.append(e)
    result = ExportResult(kept, records, stats, notes=explain(recipe, used, counts, stats, len(records)))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        result.out = out
        if hf:
            result.hf_path = save_hf(kept, records, out.with_suffix(".hf"))
    return result


def save_hf(examples: list[Example], records: list[dict[str, Any]], path: Path) -> Path | None:
    """The records plus language/category/kind columns as a Hugging Face dataset (save_to_disk)."""
    try:
        import datasets
    except ImportError:
        log.info("`datasets` is not installed; skipped the Hugging Face copy")
        return None
    rows = [{**r, "language": e.candidate.language, "category": e.candidate.category or "",
             "kind": e.candidate.kind, "dataset": e.candidate.dataset, "item_id": e.candidate.item_id}
            for e, r in zip(examples, records)]
    if not rows:
        return None
    was_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # library code does not draw on the user's terminal
    try:
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    finally:
        if was_on:
            datasets.enable_progress_bars()
    return path
