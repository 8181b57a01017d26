"""Paired comparison of two runs (before/after fine-tuning, two models, with and without a defense).

Pairs are probes with the same `pair_on` fields in both runs (default: sample and language, so an attack run
pairs with its baseline run and a defended run with its plain run whatever their transforms; add
"transform" to pair only like with like) and the same target role (the same target label when both runs
use the same labels, else the targets in sorted order). `transform_a` / `transform_b` select one side's
transform chains, e.g. the plain prompt and AIM of one run: compare(run, run, transform_a="none",
transform_b="aim"). Without `pair_on`, runs with several transforms in common pair like with like
(transform added). A side with several probes per pair key (several transforms, when transform is not a
pair field) is an error that says which option to use. For each language the headline rates of run A
and run B are compared on the same prompts: the difference B - A with Newcombe's paired score interval
(and the Wald interval), and McNemar's exact test on the discordant pairs. Benign prompts give the same
comparison for the over-refusal rate.

The headline rate is named as in summary.json (metrics.summary.headline): "unsafe" with a safety judge
(llm, guard, ensemble, a cascade ending in one), "answered, not refused" with a refusal judge (attack
success by the refusal criterion). Each run's judge is named from what it declared in that run, so a
judge name that measured different things in the two runs (e.g. `llm` with the xstest rubric in A and the
multijail rubric in B) is reported as a mismatch (`measure.mixed`, `measure.warning`).

Both stores are read as two sorted streams merged in Python: memory stays flat at any size.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from .. import languages as langs
from ..errors import UsageError
from ..labels import EXCLUDED, is_benign_prompt, is_refusal, is_unsafe
from ..results.readers import _PAIR_COLUMNS, PAIR_FIELDS, RunReader
from .stats import mcnemar_exact, paired_difference, proportion
from .summary import headline, judge_vocabularies
from .tally import lang_order


def _roles(ta: list[str], tb: list[str]) -> tuple[dict[str, str], dict[str, str], str]:
    """target -> role for each run, and how they were paired."""
    if set(ta) == set(tb):
        return {t: t for t in ta}, {t: t for t in tb}, "same target labels"
    if len(ta) == len(tb):
        return ({t: f"#{i + 1}" for i, t in enumerate(ta)}, {t: f"#{i + 1}" for i, t in enumerate(tb)},
                "targets paired in sorted order" if len(ta) > 1 else "the single target of each run")
    common = sorted(set(ta) & set(tb))
    if common:
        return {t: t for t in common}, {t: t for t in common}, "targets present in both runs"
    raise UsageError(f"Cannot pair targets: run A has {', '.join(ta) or 'none'}, run B has {', '.join(tb) or 'none'}. "
                     f"Give both runs the same target labels, or the same number of targets.")


def _rows(run: str | Path, judge: str, roles: dict[str, str], pair_on: tuple[str, ...],
          transforms: list[str] | None) -> Iterator[tuple]:
    """(key, plabel, label, transform) sorted by key = (pair_on fields..., role)."""
    if not roles:
        return
    with RunReader(run) as r:
        yield from r.compare_rows(judge, roles, pair_on, transforms)


def parse_pair_on(pair_on: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """('sample', 'language'[, 'transform']) from 'sample,language' or a list; sample is always in."""
    if pair_on is None:
        return PAIR_FIELDS
    items = [x.strip() for x in (pair_on.split(",") if isinstance(pair_on, str) else pair_on) if x and x.strip()]
    bad = [x for x in items if x not in _PAIR_COLUMNS]
    if bad or "sample" not in items:
        raise UsageError(f"--pair-on takes sample (required), language and transform, e.g. sample,language; "
                         f"got '{','.join(items)}'.")
    return tuple(f for f in _PAIR_COLUMNS if f in items)  # canonical order


def _transforms(value: str | list[str] | None, available: list[str], side: str) -> list[str] | None:
    if value is None:
        return None
    items = [x.strip() for x in (value.split(",") if isinstance(value, str) else value) if x.strip()]
    missing = [t for t in items if t not in available]
    if missing:
        raise UsageError(f"Run {side} has no probes with transform '{missing[0]}'. It has: {', '.join(available)}.")
    return items


_DUP = object()  # marks a second row with the same key on one side


def _merge(a: Iterator[tuple], b: Iterator[tuple]) -> Iterator[tuple]:
    """Merge-join two key-sorted streams of (key, plabel, label, transform, language); yields
    (key, plabel, label_a, label_b, transform_a, transform_b, language_a) for keys in both, with None for
    the missing side of unpaired rows. A second row with the same key on one side comes back with
    (first row's transform, its transform) in its label slot and _DUP in its transform slot."""
    sentinel = object()
    ra = next(a, sentinel)
    rb = next(b, sentinel)
    last_a = last_b = None
    tr_a = tr_b = None  # the transform of the last row used on each side
    while ra is not sentinel or rb is not sentinel:
        if ra is not sentinel and ra[0] == last_a:
            yield (ra[0], None, (tr_a, ra[3]), None, _DUP, None, ra[4])
            ra = next(a, sentinel)
            continue
        if rb is not sentinel and rb[0] == last_b:
            yield (rb[0], None, None, (tr_b, rb[3]), None, _DUP, rb[4])
            rb = next(b, sentinel)
            continue
        if rb is sentinel or (ra is not sentinel and ra[0] < rb[0]):
            yield (ra[0], None, ra[2], None, ra[3], None, ra[4])
            last_a, tr_a = ra[0], ra[3]
            ra = next(a, sentinel)
        elif ra is sentinel or rb[0] < ra[0]:
            yield (rb[0], None, None, rb[2], None, rb[3], rb[4])
            last_b, tr_b = rb[0], rb[3]
            rb = next(b, sentinel)
        else:
            yield (ra[0], ra[1], ra[2], rb[2], ra[3], rb[3], ra[4])
            last_a, last_b, tr_a, tr_b = ra[0], rb[0], ra[3], rb[3]
            ra = next(a, sentinel)
            rb = next(b, sentinel)


def _table(t: list[int]) -> dict[str, Any]:
    """t = [both, a_only, b_only, neither] -> rates, difference B - A with intervals, McNemar p."""
    both, a_only, b_only, neither = t
    n = sum(t)
    return {"pairs": n, "both": both, "a_only": a_only, "b_only": b_only, "neither": neither,
            "rate_a": proportion(both + a_only, n), "rate_b": proportion(both + b_only, n),
            "diff": paired_difference(both, b_only, a_only, neither), "mcnemar_p": mcnemar_exact(a_only, b_only)}


def _measure(reader: RunReader, judge: str) -> dict[str, Any]:
    """The honest name of `judge`'s headline rate in one run (summary.json's `headline` for that judge)."""
    return headline(judge, judge_vocabularies(reader, [judge], reader.judge_labels())[judge])


def measure(judge: str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What the compared rate is: the headline of both runs when they measured the same thing; else a
    mixed measure whose `warning` says what each run measured."""
    if a["name"] == b["name"] and a["vocabulary"] == b["vocabulary"]:
        out = dict(a, mixed=False, a=a["name"], b=b["name"])
        if a["vocabulary"] not in ("refusal", "safety"):
            out["warning"] = (f"judge '{judge}' judges neither safety nor refusal ({a['vocabulary']} labels): "
                              f"these rates do not apply.")
        return out
    return {"judge": judge, "vocabulary": "mixed", "name": f"{a['name']} (A) vs {b['name']} (B)",
            "short": "mixed", "long": f"A: {a['long']}; B: {b['long']}", "mixed": True,
            "a": a["name"], "b": b["name"],
            "warning": (f"the two runs measured different things: judge '{judge}' gave {a['vocabulary']} labels "
                        f"in run A ('{a['name']}') and {b['vocabulary']} labels in run B ('{b['name']}'), so "
                        f"B - A is not a change in one rate. Compare on a judge that measured the same thing "
                        f"in both runs (--judge NAME), or judge both runs with the same judge spec.")}


def compare(run_a: str | Path, run_b: str | Path, judge: str | None = None,
            pair_on: str | list[str] | tuple[str, ...] | None = None, transform_a: str | list[str] | None = None,
            transform_b: str | list[str] | None = None) -> dict[str, Any]:
    """Paired per-prompt comparison of two runs' headline rates ('unsafe' with a safety judge, 'answered,
    not refused' with a refusal judge: `measure`) and over-refusal rates, per language."""
    with RunReader(run_a) as ra, RunReader(run_b) as rb:
        ta, tb = ra.targets(), rb.targets()
        ja, jb = ra.judges(), rb.judges()
        pref = [j for j in ra.spec_judges() + ja if j in jb]
        sel_a = _transforms(transform_a, ra.transforms(), "A")
        sel_b = _transforms(transform_b, rb.transforms(), "B")
        tr_a, tr_b = sel_a or ra.transforms(), sel_b or rb.transforms()
        if pair_on is None and (len(tr_a) > 1 or len(tr_b) > 1) and set(tr_a) & set(tr_b):
            # runs with several transforms in common (before / after fine-tuning): like with like
            fields = parse_pair_on("sample,language,transform")
        else:
            fields = parse_pair_on(pair_on)
        if judge is None:
            if not pref:
                raise UsageError(f"The runs share no judge (A: {', '.join(ja) or 'none'}; B: "
                                 f"{', '.join(jb) or 'none'}); judge both with the same judge first.")
            judge = pref[0]
        elif judge not in ja or judge not in jb:
            raise UsageError(f"Judge '{judge}' is not in both runs (A: {', '.join(ja)}; B: {', '.join(jb)}).")
        what = measure(judge, _measure(ra, judge), _measure(rb, judge))
    roles_a, roles_b, how = _roles(ta, tb)

    harm: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    benign: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_role: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_transform: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    unpaired_a = unpaired_b = excluded = 0
    dup_a: set[str] = set()  # transforms that make a pair key ambiguous
    dup_b: set[str] = set()
    repeats = [0, 0]  # further probes with the same key and transform (e.g. one translation from several
    # source languages): the first is used, the rest are counted
    lang_at = fields.index("language") + 1 if "language" in fields else None  # sample is 2 columns
    for key, plabel, la, lb, tr_a, tr_b, lang_a in _merge(_rows(run_a, judge, roles_a, fields, sel_a),
                                                          _rows(run_b, judge, roles_b, fields, sel_b)):
        if tr_a is _DUP or tr_b is _DUP:
            first, this = la if tr_a is _DUP else lb
            if first == this:  # not used in a pair: unpaired, and counted apart as a repeat
                repeats[0 if tr_a is _DUP else 1] += 1
                if tr_a is _DUP:
                    unpaired_a += 1
                else:
                    unpaired_b += 1
            else:
                (dup_a if tr_a is _DUP else dup_b).update((first, this))
            continue
        if lb is None:
            unpaired_a += 1
            continue
        if la is None:
            unpaired_b += 1
            continue
        if la in EXCLUDED or lb in EXCLUDED:
            excluded += 1
            continue
        lang = key[lang_at] if lang_at is not None else lang_a
        if is_benign_prompt(plabel):
            xa, xb = is_refusal(la), is_refusal(lb)
            tabs = [benign[lang], benign["all"]]
        else:
            xa, xb = is_unsafe(la, True), is_unsafe(lb, True)
            tabs = [harm[lang], harm["all"], by_role[key[-1]],
                    by_transform[tr_a if "transform" in fields else f"{tr_a} -> {tr_b}"]]
        cell = 0 if xa and xb else 1 if xa else 2 if xb else 3
        for t in tabs:
            t[cell] += 1

    if dup_a or dup_b:
        side, trs = ("A", dup_a) if dup_a else ("B", dup_b)
        raise UsageError(f"Run {side} has several probes per pair key (transforms: {', '.join(sorted(trs))}), "
                         f"so pairs on {','.join(fields)} are ambiguous. Choose one side's transform with "
                         f"--transform-a / --transform-b (e.g. --transform-a none --transform-b aim), or pair "
                         f"like with like: --pair-on {','.join(fields)},transform.")
    order = lang_order({c: langs.tier(c) for c in harm})
    langs_sorted = sorted((k for k in harm if k != "all"), key=order)
    return {
        "run_a": str(run_a), "run_b": str(run_b), "judge": judge, "pairing": how, "pair_on": list(fields),
        "transform_a": sel_a, "transform_b": sel_b,
        "target_pairs": [[t, next((u for u, r in roles_b.items() if r == role), None)] for t, role in roles_a.items()],
        "measure": what,
        "metric": f"{what['name']} rate on harmful prompts; difference = B - A",
        "overall": _table(harm["all"]) if "all" in harm else _table([0, 0, 0, 0]),
        "by_language": {lang: _table(harm[lang]) for lang in langs_sorted},
        "by_target_role": {r: _table(t) for r, t in sorted(by_role.items())},
        "by_transform": {tr: _table(t) for tr, t in sorted(by_transform.items())},
        "over_refusal": ({lang: _table(benign[lang]) for lang in sorted(benign, key=lambda c: (c != "all", order(c)))}
                         if benign else None),
        "unpaired_a": unpaired_a, "unpaired_b": unpaired_b, "excluded_pairs": excluded,
        "repeated_a": repeats[0], "repeated_b": repeats[1],
    }
