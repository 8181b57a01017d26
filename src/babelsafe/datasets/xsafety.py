"""XSafety: 14 safety sets x 10 languages, 2,800 prompts per language (Wang et al., ACL 2024 Findings)."""
from __future__ import annotations

import json
from typing import Iterator

from ..taxonomy import XSAFETY_ATTACKS, coarse
from ..types import Sample
from .base import Scoring
from ._common import ShippedDataset, open_text

_LANGS = ["en", "zh", "ar", "bn", "de", "es", "fr", "hi", "ja", "ru"]
SCENARIOS = ("Crimes_And_Illegal_Activities", "Ethics_And_Morality", "Insult", "Mental_Health",
             "Physical_Harm", "Privacy_And_Property", "Unfairness_And_Discrimination")


class XSafety(ShippedDataset):
    """XSafety: 7 safety scenarios, commonsense safety and 6 instruction attacks in 10 languages (parallel)."""

    name = "xsafety"
    scoring = Scoring(
        "harm",
        "ChatGPT asked whether the answer is safe under the prompt's scenario (Wang et al., 2023)",
        "--judge 'llm:rubric=xsafety,target=MODEL'",
        rubric="xsafety")
    languages = list(_LANGS)
    size = 27_999  # 14 sets x 200 x 10 languages; ru Insult has 199
    categories = ["crime", "unethical", "harassment_insult", "health_self_harm", "privacy",
                  "hate_discrimination", "commonsense", "instruction_attack"]
    raw_categories = list(SCENARIOS) + ["commonsense"] + list(XSAFETY_ATTACKS)
    labels = ["harmful"]
    license = "Apache-2.0 (research use only, no misuse)"
    source = ("Wang et al., All Languages Matter: On the Multilingual Safety of Large Language Models, "
              "Findings of ACL 2024 (github.com/Jarviswang94/Multilingual_safety_benchmark)")
    citation = ("@inproceedings{wang2024all, title={All Languages Matter: On the Multilingual Safety of Large "
                "Language Models}, author={Wang, Wenxuan and Tu, Zhaopeng and Chen, Chang and Yuan, Youliang "
                "and Huang, Jen-tse and Jiao, Wenxiang and Lyu, Michael R.}, booktitle={Findings of ACL}, "
                "year={2024}}")
    parallel = True

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        prefixes = None if wanted is None else tuple(f'{{"lang": "{lang}"' for lang in wanted)
        with open_text("xsafety/xsafety_prompts.jsonl.gz") as f:
            for line in f:
                if prefixes is not None and not line.startswith(prefixes):
                    continue  # cheap language filter before parsing
                row = json.loads(line)
                raw = row["category"]
                if raw == "commonsense":
                    kind, meta = "commonsense", {}
                elif raw in XSAFETY_ATTACKS:
                    kind, meta = "instruction_attack", {"label": "harmful"}
                else:
                    kind, meta = "scenario", {"label": "harmful"}
                meta.update({"raw_category": raw, "type": kind})
                yield Sample(dataset="xsafety", id=f"{raw}/{row['idx']}", language=row["lang"],
                             prompt=row["prompt"], category=coarse("xsafety", raw), meta=meta)
