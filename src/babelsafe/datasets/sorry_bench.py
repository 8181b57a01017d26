"""SORRY-Bench's 44-category taxonomy (Xie et al., ICLR 2025); the prompts are gated and not shipped."""
from __future__ import annotations

from typing import Any, Iterator

from ..errors import UsageError
from ..taxonomy import sorry_bench_categories
from ..types import Sample
from .base import Scoring
from ._common import ShippedDataset, wanted_languages

HF_NAME = "sorry-bench/sorry-bench-202503"


class SorryBench(ShippedDataset):
    """SORRY-Bench 44-category taxonomy only: no prompts shipped (gated; use hf:sorry-bench/sorry-bench-202503).

    The categories map to babelsafe's coarse taxonomy (babelsafe.taxonomy); `load()` explains how to get
    the prompts from Hugging Face after accepting their terms."""

    name = "sorry-bench"
    scoring = Scoring(
        "refusal",
        "fulfilment (complies or not) by a fine-tuned Mistral-7B judge (Xie et al., 2024)",
        "--judge refusal or --judge 'llm:rubric=sorry_bench,target=MODEL'",
        rubric="sorry_bench")
    languages: list[str] = []
    size = 0  # no prompts available here
    license = "custom (gated on Hugging Face); category names only are shipped"
    source = ("Xie et al., SORRY-Bench: Systematically Evaluating Large Language Model Safety Refusal, "
              "ICLR 2025 (sorry-bench.github.io)")
    citation = ("@inproceedings{xie2025sorrybench, title={SORRY-Bench: Systematically Evaluating Large Language "
                "Model Safety Refusal}, author={Xie, Tinghao and Qi, Xiangyu and Zeng, Yi and Huang, Yangsibo and "
                "Sehwag, Udari Madhushani and Huang, Kaixuan and He, Luxi and Wei, Boyi and Li, Dacheng and "
                "Sheng, Ying and Jia, Ruoxi and Li, Bo and Li, Kai and Chen, Danqi and Henderson, Peter and "
                "Mittal, Prateek}, booktitle={ICLR}, year={2025}}")

    @classmethod
    def taxonomy(cls) -> list[dict[str, Any]]:
        """The 44 categories: id_202503, domain, name_taxonomy_figure, name_website_short, id_202406, coarse."""
        return [dict(r) for r in sorry_bench_categories()]

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        wanted_languages(languages)  # still validate the codes
        raise UsageError(
            "sorry-bench ships only its 44-category taxonomy: the prompts are gated on Hugging Face and are not "
            f"included. Accept the terms on huggingface.co/datasets/{HF_NAME}, run `huggingface-cli login`, "
            f"install the hf extra, then use --dataset hf:{HF_NAME} (the category column maps to the coarse "
            "taxonomy automatically).")


# categories for `babelsafe list datasets`: the 44 full names (read from the shipped CSV at import)
SorryBench.categories = [r["name_taxonomy_figure"] for r in sorry_bench_categories()]
