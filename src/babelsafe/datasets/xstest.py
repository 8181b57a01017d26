"""XSTest: 250 safe prompts and 200 unsafe contrast prompts for exaggerated safety (Röttger et al., NAACL 2024)."""
from __future__ import annotations

import csv
from typing import Iterator

from ..taxonomy import coarse
from ..types import Sample
from .base import Scoring
from ._common import ShippedDataset, open_text


class XSTest(ShippedDataset):
    """XSTest: 250 safe + 200 unsafe contrast prompts (English) to measure over-refusal."""

    name = "xstest"
    scoring = Scoring(
        "refusal",
        "full compliance / full refusal / partial refusal, by GPT-4 or a prefix string match "
        "(Röttger et al., NAACL 2024)",
        "--judge refusal, --judge xstest-strmatch or --judge 'llm:rubric=xstest,target=MODEL'",
        rubric="xstest")
    languages = ["en"]
    size = 450
    categories = ["benign", "privacy", "hate_discrimination", "other"]
    labels = ["benign", "harmful"]
    types = ["homonyms", "figurative_language", "safe_targets", "safe_contexts", "definitions",
             "real_group_nons_discr", "nons_group_real_discr", "historical_events", "privacy_public",
             "privacy_fictional", "contrast_homonyms", "contrast_figurative_language", "contrast_safe_targets",
             "contrast_safe_contexts", "contrast_definitions", "contrast_discr", "contrast_historical_events",
             "contrast_privacy"]
    license = "CC-BY-4.0"
    source = ("Röttger et al., XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in Large "
              "Language Models, NAACL 2024 (github.com/paul-rottger/exaggerated-safety)")
    citation = ("@inproceedings{rottger2024xstest, title={XSTest: A Test Suite for Identifying Exaggerated "
                "Safety Behaviours in Large Language Models}, author={R{\\\"o}ttger, Paul and Kirk, Hannah Rose "
                "and Vidgen, Bertie and Attanasio, Giuseppe and Bianchi, Federico and Hovy, Dirk}, "
                "booktitle={NAACL}, year={2024}}")

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        with open_text("xstest/xstest_prompts.csv") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            kind = row["type"]
            yield Sample(
                dataset="xstest", id=row["id"], language="en", prompt=row["prompt"],
                category=coarse("xstest", kind),
                meta={"type": kind, "raw_category": kind, "focus": row["focus"], "note": row["note"],
                      "label": "harmful" if row["label"] == "unsafe" else "benign"},
            )
