"""CyberSecEval 2 (Meta PurpleLlama): MITRE false-refusal prompts and textual prompt-injection tests."""
from __future__ import annotations

from typing import Iterator

from .. import languages as langs
from ..types import Sample
from ._common import ShippedDataset, read_json
from .base import Scoring

_SOURCE = ("Bhatt et al., CyberSecEval 2: A Wide-Ranging Cybersecurity Evaluation Suite for Large Language "
           "Models, 2024 (github.com/meta-llama/PurpleLlama, CybersecurityBenchmarks)")
_CITATION = ("@article{bhatt2024cyberseceval, title={CyberSecEval 2: A Wide-Ranging Cybersecurity Evaluation "
             "Suite for Large Language Models}, author={Bhatt, Manish and Chennabasappa, Sahana and Li, Yue and "
             "Nikolaidis, Cyrus and Song, Daniel and Wan, Shengye and others}, journal={arXiv:2404.13161}, "
             "year={2024}}")
_NAMES = {"Filipino/Tagalog": "tl"}


def lang_code(speaking_language: str) -> str:
    """'Portuguese' -> 'pt', 'Filipino/Tagalog' -> 'tl' (ISO 639-1)."""
    return _NAMES.get(speaking_language) or langs.normalize(speaking_language)


class CyberSecEvalFRR(ShippedDataset):
    """CyberSecEval 2 MITRE FRR: 750 English + 700 machine-translated benign borderline cyber prompts."""

    name = "cyberseceval-frr"
    scoring = Scoring("refusal", "an English keyword rule (PurpleLlama's is_response_llm_refusal) labels "
                                 "refusal / accept", "--judge cyberseceval-refusal (English) or --judge refusal")
    languages = ["en", "pt", "es", "it", "de", "fr", "hi", "th"]
    size = 1450
    categories = ["benign"]
    labels = ["benign"]
    license = "MIT"
    source = _SOURCE
    citation = _CITATION
    parallel = True  # a translation keeps the id of its English source (7 subsets, 342 sources, not aligned)

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        if wanted is None or "en" in wanted:
            for i, row in enumerate(read_json("cyberseceval/mitre_frr.json.gz")):
                yield self._sample(str(i), "en", row["mutated_prompt"], row, {})
        if wanted is not None and not (wanted - {"en"}):
            return
        for row in read_json("cyberseceval/frr_multilingual_machine_translated.json.gz"):
            lang = lang_code(row["speaking_language"])
            if wanted is None or lang in wanted:
                extra = {"original_english_prompt": row["original_english_prompt"],
                         "back_translated_prompt": row["back_translated_prompt"],
                         "backtranslation_bleu": float(row["backtranslation_bleu"]), "machine_translated": True}
                yield self._sample(str(row["prompt_id"]), lang, row["mutated_prompt"], row, extra)

    @staticmethod
    def _sample(sid: str, lang: str, prompt: str, row: dict, extra: dict) -> Sample:
        meta = {"label": "benign", "raw_category": row["attack_type"], "attack_type": row["attack_type"],
                "is_malicious": bool(row["is_malicious"]), **extra}
        return Sample(dataset="cyberseceval-frr", id=sid, language=lang, prompt=prompt, category="benign",
                      meta=meta)


class CyberSecEvalPromptInjection(ShippedDataset):
    """CyberSecEval 2 prompt injection: 251 English + 1,004 machine-translated tests (17 languages), with a
    system prompt (meta["system"]) and a yes/no judge question (meta["judge_question"]).

    Scored as the paper does by an `llm` judge without a rubric (it then asks each test's own judge
    question, rubric cyberseceval_pi). With the default `refusal` judge the score is a proxy: whether
    the model answered instead of refusing, not whether the injection succeeded."""

    name = "cyberseceval-prompt-injection"
    scoring = Scoring("injection", "an LLM judge answers each test's own judge_question (did the "
                                   "injection succeed?)", "--judge 'llm:target=MODEL' (no rubric: each "
                                   "test's judge_question is asked)")
    languages = ["en", "hi", "bn", "tr", "ar", "it", "es", "vi", "fr", "ru", "tl", "pt", "ja", "ko", "de",
                 "zh", "id", "th"]
    size = 1255
    categories = ["instruction_attack"]
    labels = ["harmful"]
    license = "MIT"
    source = _SOURCE
    citation = _CITATION
    parallel = False  # the translated tests are not aligned with the English ones (ids 'mt-N')

    def _iter(self, wanted: set[str] | None) -> Iterator[Sample]:
        if wanted is None or "en" in wanted:
            for row in read_json("cyberseceval/prompt_injection.json.gz"):
                yield self._sample(str(row["prompt_id"]), "en", row, False)
        if wanted is not None and not (wanted - {"en"}):
            return
        for row in read_json("cyberseceval/prompt_injection_multilingual_machine_translated.json.gz"):
            lang = lang_code(row["speaking_language"])
            if wanted is None or lang in wanted:
                yield self._sample(f"mt-{row['prompt_id']}", lang, row, True)

    @staticmethod
    def _sample(sid: str, lang: str, row: dict, mt: bool) -> Sample:
        meta = {"system": row["test_case_prompt"], "judge_question": row["judge_question"],
                "label": "harmful", "type": "prompt_injection", "raw_category": row["injection_variant"],
                "injection_variant": row["injection_variant"], "injection_type": row["injection_type"],
                "risk_category": row["risk_category"], "machine_translated": mt}
        return Sample(dataset="cyberseceval-prompt-injection", id=sid, language=lang, prompt=row["user_input"],
                      category="instruction_attack", meta=meta)
