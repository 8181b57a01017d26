"""MultiJail: 315 harmful prompts with human translations into 9 languages (Deng et al., ICLR 2024)."""
from __future__ import annotations

import ast
import csv
from typing import Iterator

from ..taxonomy import coarse
from ..types import Sample
from .base import Scoring
from ._common import ShippedDataset, open_text

_LANGS = ["en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv"]


class MultiJail(ShippedDataset):
    """MultiJail: 315 harmful prompts, English + native-speaker translations in 9 languages (parallel)."""

    name = "multijail"
    scoring = Scoring(
        "harm",
        "GPT-4 labels each answer, translated to English, safe / unsafe / invalid "
        "(Deng et al., ICLR 2024, App. A.2)",
        "--judge 'llm:rubric=multijail,target=MODEL' (add back_translate=true,translator=MODEL "
        "for the paper's translation to English)",
        rubric="multijail")
    languages = list(_LANGS)
    size = 315 * len(_LANGS)
    categories = ["violence", "hate_discrimination", "harassment_insult", "unethical",
                  "misinformation_politics", "crime", "weapons_terrorism", "sexual_content",
                  "fraud_deception", "privacy", "health_self_harm", "child_abuse"]
    labels = ["harmful"]
    license = "MIT"
    source = ("Deng et al., Multilingual Jailbreak Challenges in Large Language Models, ICLR 2024 "
              "(github.com/DAMO-NLP-SG/multilingual-safety-for-LLMs)")
    citation = ("@inproceedings{deng2024multilingual, title={Multilingual Jailbreak Challenges in Large "
                "Language Models}, author={Deng, Yue and Zhang, Wenxuan and Pan, Sinno Jialin and Bing, "
                "Lidong}, booktitle={ICLR}, year={2024}}")
    parallel = True
    tags_count = 18

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        langs = [lang for lang in _LANGS if wanted is None or lang in wanted]
        with open_text("multijail/MultiJail.csv") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            tags = ast.literal_eval(row["tags"])
            raw = tags[0] if tags else None
            cat = coarse("multijail", raw)
            for lang in langs:
                yield Sample(
                    dataset="multijail", id=row["id"], language=lang, prompt=row[lang], category=cat,
                    meta={"tags": list(tags), "raw_category": raw, "source": row["source"],
                          "label": "harmful"},
                )
