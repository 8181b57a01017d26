"""Which language each prompt was answered in: a finding of its own beside the rates.

Models often answer prompts in low-resource languages in English. The refusal judge judges such an
answer on its content (it counts in the rates like any other) and records the answer's language
(`extra["answer_language"]`); for a prompt language it has no lexicon for it records
`extra["unsupported_language"]`. This panel (summary.json `answer_languages`, present when the primary
judge recorded answer languages) gives, per prompt language, the share of answers in each other language
with a Wilson interval ("bn prompts answered in en: 40%"), and the languages the judge could not read, so
the CLI and the report can say both out loud.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from .panels import RunView, panel
from .stats import proportion

DEFINITION = ("per prompt language, the share of the primary judge's answers written in another language "
              "(answers with no recognisable language, e.g. empty or degenerate, or a Latin-script opening "
              "with fewer than two different stop words of one language, or Malay/Indonesian text with no "
              "word of one only, to a prompt in neither, or text in a language the judge has no lexicon "
              "for, e.g. Catalan, Croatian, Ukrainian, are 'unknown'); those answers "
              "are judged on their content and counted in every rate; `unsupported`: answers in prompt "
              "languages the judge has no lexicon for (no finding is made of their language)")
FINDING_SHARE = 0.05  # another answer language is a finding from this share of a prompt language's answers
_UNKNOWN = ("und", "unknown", "")


def _counts(run: RunView) -> list[tuple[str, str | None, bool, int]]:
    rows = getattr(run, "_answer_language_rows", None)
    if rows is None:
        rows = run.reader.answer_language_counts(run.primary) if run.primary else []
        run._answer_language_rows = rows  # type: ignore[attr-defined]
    return rows


def _applies(run: RunView) -> bool:
    return any(al is not None or unsupported for _, al, unsupported, _ in _counts(run))


@panel("answer_languages", applies=_applies, optional=True)
def answer_languages(run: RunView) -> dict[str, Any]:
    """{judge, by_language: {prompt lang: {n, same, unknown, other: {answer lang: rate}}}, findings,
    unsupported: {prompt lang: answers}}. `n` counts answers with a known language (empty, degenerate and
    echoed answers have none: they are `unknown`)."""
    per: dict[str, dict[str | None, int]] = defaultdict(dict)
    unsupported: dict[str, int] = defaultdict(int)
    for lang, al, unsup, n in _counts(run):
        key = None if al is None or str(al).lower() in _UNKNOWN else str(al)
        per[lang][key] = per[lang].get(key, 0) + n
        if unsup:
            unsupported[lang] += n
    by_language: dict[str, Any] = {}
    findings: list[str] = []
    for lang in sorted(per, key=run.lang_order):
        d = per[lang]
        known = sum(n for a, n in d.items() if a is not None)
        other = {a: proportion(n, known) for a, n in sorted(d.items(), key=lambda kv: (-kv[1], str(kv[0])))
                 if a is not None and a != lang}
        by_language[lang] = {"n": known, "same": d.get(lang, 0), "unknown": d.get(None, 0), "other": other}
        if lang in unsupported:
            # the judge's language vote only knows its lexicon languages: an answer in this one reads as
            # some other language (Maori as Italian), so no finding is made of it
            by_language[lang]["detected"] = False
            continue
        shown = [f"{a}: {100 * r['rate']:.0f}% ({r['k']} of {known})" for a, r in other.items()
                 if r["rate"] >= FINDING_SHARE]
        if shown:
            findings.append(f"{lang} prompts answered in " + ", ".join(shown))
    return {"judge": run.primary, "definition": DEFINITION, "by_language": by_language, "findings": findings,
            "unsupported": dict(sorted(unsupported.items(), key=lambda kv: run.lang_order(kv[0])))}
