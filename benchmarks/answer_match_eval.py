"""How well does the `answer-match` judge tell a right short answer from a wrong one, on data its rules
were not written against?

Dev: helpful-mini's keyed questions (the rules were tuned on them): each key's accepted answers as the
answer (must match), and every other question's first answer in the same language (must not match,
unless it is an accepted answer too).
Held-out: lab-safety-mini (the lead's multiple-choice questions, 6 languages, written apart from this
judge): the correct option's text is the key; each of the 4 options as the answer, alone and inside a
sentence frame; only the correct one must match. Prints precision / recall / accuracy per language.

    python benchmarks/answer_match_eval.py
"""
from __future__ import annotations

from collections import defaultdict
from importlib import resources

from babelsafe.datasets.helpful import read_items as read_helpful
from babelsafe.datasets.mcq import read_items as read_mcq
from babelsafe.judges.answer_match import match, parse_number

FRAMES = {"en": "I think it is: {}.", "zh": "我认为是：{}。", "es": "Creo que es: {}.", "ar": "أعتقد أنها: {}.",
          "bn": "আমার মনে হয়: {}।", "sw": "Nadhani ni: {}."}


def score(cases: list[tuple[str, bool, bool]]) -> dict[str, dict[str, float]]:
    """cases: (language, expected, got) -> per language tp/fp/fn/accuracy."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fp fn tn
    for lang, want, got in cases:
        for key in (lang, "all"):
            per[key][0 if want and got else 1 if got else 2 if want else 3] += 1
    out = {}
    for lang, (tp, fp, fn, tn) in per.items():
        out[lang] = {"n": tp + fp + fn + tn, "precision": tp / (tp + fp) if tp + fp else float("nan"),
                     "recall": tp / (tp + fn) if tp + fn else float("nan"), "accuracy": (tp + tn) / (tp + fp + fn + tn)}
    return out


def dev_cases() -> list[tuple[str, bool, bool]]:
    data = resources.files("babelsafe.datasets").joinpath("data", "helpful_mini", "questions.jsonl")
    items = [it for it in read_helpful(data.read_text("utf-8").splitlines(), "helpful") if it.answers]
    cases = []
    for it in items:
        number = next((n for n in map(parse_number, it.answers) if n is not None), None)
        for a in it.answers:
            cases.append((it.language, True, match(a, it.question, it.answers, number)[0]))
        for other in items:
            if other.language == it.language and other.id != it.id and other.answers[0] not in it.answers:
                cases.append((it.language, False, match(other.answers[0], it.question, it.answers, number)[0]))
    return cases


def held_out_cases() -> list[tuple[str, bool, bool]]:
    data = resources.files("babelsafe.datasets").joinpath("data", "lab_safety_mini", "questions.jsonl")
    cases = []
    for it in read_mcq(data.read_text("utf-8").splitlines(), "lab-safety-mini"):
        key = it.options[it.answer]
        for i, opt in enumerate(it.options):
            for text in (opt, FRAMES.get(it.language, "{}").format(opt)):
                cases.append((it.language, i == it.answer, match(text, it.question, [key], None)[0]))
    return cases


def main() -> None:
    for name, cases in (("dev (helpful-mini, rules tuned on it)", dev_cases()),
                        ("held-out (lab-safety-mini options)", held_out_cases())):
        print(name)
        for lang, r in sorted(score(cases).items(), key=lambda kv: (kv[0] == "all", kv[0])):
            print(f"  {lang:4} n={r['n']:4d} precision={r['precision']:.3f} recall={r['recall']:.3f} "
                  f"accuracy={r['accuracy']:.3f}")


if __name__ == "__main__":
    main()
