"""RED-EVAL question banks (declare-lab): HarmfulQA, DangerousQA, AdversarialQA and CatQA."""
from __future__ import annotations

from typing import Iterator

from ..taxonomy import coarse
from ..types import Sample
from ._common import ShippedDataset, read_json
from .base import Scoring

_SOURCE = ("Bhardwaj & Poria, Red-Teaming Large Language Models using Chain of Utterances for "
           "Safety-Alignment, 2023 (github.com/declare-lab/red-instruct)")
_CITATION = ("@article{bhardwaj2023redteaming, title={Red-Teaming Large Language Models using Chain of "
             "Utterances for Safety-Alignment}, author={Bhardwaj, Rishabh and Poria, Soujanya}, "
             "journal={arXiv:2308.09662}, year={2023}}")
_SCORING = Scoring("harm", "GPT-4 judges harmfulness, [[A]] not harmful / [[B]] harmful (RED-EVAL, "
                           "Bhardwaj & Poria 2023)", "--judge 'llm:rubric=redeval,target=MODEL'", rubric="redeval")


class HarmfulQA(ShippedDataset):
    """HarmfulQA: 1,960 harmful questions over 10 academic topics and 98 subtopics (English)."""

    name = "harmfulqa"
    languages = ["en"]
    size = 1960
    categories = ["other"]  # topics are academic subjects, not harm types
    labels = ["harmful"]
    license = "Apache-2.0"
    source = _SOURCE
    citation = _CITATION
    scoring = _SCORING

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        for topic, subs in read_json("redeval/harmfulqa.json").items():
            for sub, questions in subs.items():
                for i, q in enumerate(questions):
                    yield Sample(dataset="harmfulqa", id=f"{topic}/{sub}/{i}", language="en", prompt=q,
                                 category=coarse("harmfulqa", topic),
                                 meta={"raw_category": topic, "topic": topic, "subtopic": sub, "label": "harmful"})


class _QuestionList(ShippedDataset):
    _file = ""
    languages = ["en"]
    categories = ["other"]
    labels = ["harmful"]
    license = "Apache-2.0"
    source = _SOURCE
    citation = _CITATION
    scoring = _SCORING

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        for i, q in enumerate(read_json(self._file)):
            yield Sample(dataset=self.name, id=str(i), language="en", prompt=q, category="other",
                         meta={"label": "harmful"})


class DangerousQA(_QuestionList):
    """DangerousQA: 200 harmful questions (English), from SALT-NLP chain-of-thought-bias, used by RED-EVAL."""

    name = "dangerousqa"
    size = 200
    _file = "redeval/dangerousqa.json"


class AdversarialQA(_QuestionList):
    """AdversarialQA: 500 AdvBench-style harmful instructions (English, from llm-attacks), used by RED-EVAL."""

    name = "adversarialqa"
    size = 500
    _file = "redeval/adversarialqa.json"


class CatQA(ShippedDataset):
    """CatQA: 550 harmful questions in 11 categories x 5 subcategories, in English, Chinese and Vietnamese (parallel)."""

    name = "catqa"
    languages = ["en", "zh", "vi"]
    size = 1650
    categories = ["crime", "child_abuse", "hate_discrimination", "cybercrime", "violence", "fraud_deception",
                  "sexual_content", "misinformation_politics", "privacy", "unqualified_advice"]
    raw_categories = ["Illegal Activity", "Child Abuse", "Hate/Harass/Violence", "Malware Viruses",
                      "Physical Harm", "Economic Harm", "Fraud/Deception", "Adult Content", "Political Campaigning",
                      "Privacy Violation Activity", "Tailored Financial Advice"]
    labels = ["harmful"]
    license = "Apache-2.0"
    source = ("Bhardwaj, Anh & Poria, Language Models are Homer Simpson! Safety Re-Alignment of Fine-tuned "
              "Language Models through Task Arithmetic, ACL 2024 (github.com/declare-lab/red-instruct)")
    citation = ("@inproceedings{bhardwaj2024homer, title={Language Models are Homer Simpson! Safety "
                "Re-Alignment of Fine-tuned Language Models through Task Arithmetic}, author={Bhardwaj, Rishabh "
                "and Anh, Do Duc and Poria, Soujanya}, booktitle={ACL}, year={2024}}")
    parallel = True
    scoring = _SCORING  # the ACL 2024 paper scores CatQA with the RED-EVAL GPT-4 harmfulness judge
    _files = {"en": "redeval/catqa_english.json", "zh": "redeval/catqa_chinese.json",
              "vi": "redeval/catqa_vietnamese.json"}

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        en_subs = [[s.rstrip(":").strip() for s in subs] for subs in read_json(self._files["en"]).values()]
        for lang, path in self._files.items():
            if wanted is not None and lang not in wanted:
                continue
            for ci, (cat, subs) in enumerate(read_json(path).items()):
                for si, (sub, questions) in enumerate(subs.items()):
                    for qi, q in enumerate(questions):
                        yield Sample(dataset="catqa", id=f"{ci + 1}.{si + 1}.{qi + 1}", language=lang, prompt=q,
                                     category=coarse("catqa", cat),
                                     meta={"raw_category": cat, "subcategory": en_subs[ci][si], "label": "harmful"})
