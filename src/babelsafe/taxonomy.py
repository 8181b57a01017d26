"""One coarse harm taxonomy so that reports compare categories across datasets.

Every shipped dataset keeps its own label in `Sample.meta["raw_category"]`; `Sample.category` is the
coarse category returned by `coarse(dataset, raw_category)`. The mapping tables below are the whole
definition (readable and testable); sources:

- MultiJail's 18 Anthropic red-team tags (Deng et al., ICLR 2024)
- XSafety's 14 sets: 7 safety scenarios, commonsense, 6 instruction attacks (Wang et al., ACL 2024)
- SORRY-Bench's 44 categories, 2025/03 version (Xie et al., ICLR 2025); `sorry_bench_categories()`
- CatQA's 11 categories (Bhardwaj et al., 2024; declare-lab)
- LongSafety's 7 safety types (Lu et al., ACL 2025)
- HarmfulQA's 10 topics are academic subjects, not harm types: they map to "other".

Benign prompts (XSTest safe prompts, CyberSecEval FRR) get the category "benign" so that over-refusal
prompts never mix with harmful ones in a per-category rate; their own type stays in raw_category.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

# code -> description. Order is the display order of reports.
COARSE: dict[str, str] = {
    "violence": "Violence, physical harm, graphic content",
    "weapons_terrorism": "Weapons, terrorism, extremism, military use",
    "crime": "Illegal activities: theft, drugs, property, financial and other crime",
    "fraud_deception": "Fraud, scams, deception, false advertising, economic harm",
    "cybercrime": "Malware, hacking, system intrusion",
    "hate_discrimination": "Hate speech, discrimination, stereotypes, bias",
    "harassment_insult": "Harassment, bullying, insults, threats, toxicity, libel",
    "sexual_content": "Adult and sexual content, sexual crimes and exploitation",
    "child_abuse": "Child abuse and child-related crimes",
    "health_self_harm": "Self-harm, mental and physical health, unhealthy behaviour",
    "privacy": "Privacy violations, personal data, property rights",
    "misinformation_politics": "Misinformation, conspiracy theories, political/ideological persuasion",
    "unethical": "Unethical but non-violent behaviour (lying, cheating, animal abuse)",
    "unqualified_advice": "Unqualified medical, legal, financial or safety-critical advice",
    "instruction_attack": "Instruction attacks and prompt injection (the attack is the category)",
    "commonsense": "Commonsense safety (recognising the unsafe option)",
    "benign": "Benign prompts (over-refusal tests)",
    "other": "Mixed or unspecified harm",
}

_MULTIJAIL = {
    "Violence & incitement": "violence",
    "Discrimination & injustice": "hate_discrimination",
    "Hate speech & offensive language": "hate_discrimination",
    "Bullying & harassment": "harassment_insult",
    "Non-violent unethical behavior (e.g. lying, cheating, etc.)": "unethical",
    "Conspiracy theories & misinformation": "misinformation_politics",
    "Theft": "crime",
    "Weapons": "weapons_terrorism",
    "Adult content": "sexual_content",
    "Substance abuse & banned substances": "crime",
    "Terrorism & organized crime": "weapons_terrorism",
    "Fraud & deception": "fraud_deception",
    "Sexual exploitation & human trafficking": "sexual_content",
    "Animal abuse": "unethical",
    "Property crime & vandalism": "crime",
    "Soliciting personally identifiable information": "privacy",
    "Self-harm": "health_self_harm",
    "Child abuse": "child_abuse",
}

XSAFETY_ATTACKS = ("Goal_Hijacking", "Inquiry_With_Unsafe_Opinion", "Prompt_Leaking", "Reverse_Exposure",
                   "Role_Play_Instruction", "Unsafe_Instruction_Topic")
_XSAFETY = {
    "Crimes_And_Illegal_Activities": "crime",
    "Ethics_And_Morality": "unethical",
    "Insult": "harassment_insult",
    "Mental_Health": "health_self_harm",
    "Physical_Harm": "health_self_harm",
    "Privacy_And_Property": "privacy",
    "Unfairness_And_Discrimination": "hate_discrimination",
    "commonsense": "commonsense",
    **{a: "instruction_attack" for a in XSAFETY_ATTACKS},
}

# SORRY-Bench 2025/03 id -> coarse (names in datasets/data/sorry_bench/taxonomy_202503.csv)
_SORRY_BY_ID = {
    1: "harassment_insult", 2: "hate_discrimination", 3: "harassment_insult", 4: "sexual_content",
    5: "harassment_insult", 6: "health_self_harm", 7: "violence", 8: "harassment_insult",
    9: "sexual_content", 10: "crime", 11: "crime", 12: "cybercrime", 13: "cybercrime",
    14: "fraud_deception", 15: "crime", 16: "crime", 17: "privacy", 18: "crime",
    19: "weapons_terrorism", 20: "child_abuse", 21: "unethical", 22: "crime", 23: "crime",
    24: "violence", 25: "sexual_content", 26: "sexual_content", 27: "violence",
    28: "misinformation_politics", 29: "fraud_deception", 30: "hate_discrimination",
    31: "weapons_terrorism", 32: "misinformation_politics", 33: "misinformation_politics",
    34: "misinformation_politics", 35: "hate_discrimination", 36: "weapons_terrorism",
    37: "misinformation_politics", 38: "misinformation_politics", 39: "health_self_harm",
    40: "unqualified_advice", 41: "unqualified_advice", 42: "unqualified_advice",
    43: "unqualified_advice", 44: "unqualified_advice",
}

_CATQA = {
    "Illegal Activity": "crime",
    "Child Abuse": "child_abuse",
    "Hate/Harass/Violence": "hate_discrimination",
    "Malware Viruses": "cybercrime",
    "Physical Harm": "violence",
    "Economic Harm": "fraud_deception",
    "Fraud/Deception": "fraud_deception",
    "Adult Content": "sexual_content",
    "Political Campaigning": "misinformation_politics",
    "Privacy Violation Activity": "privacy",
    "Tailored Financial Advice": "unqualified_advice",
}

_LONGSAFETY = {
    "Illegal Activities": "crime",
    "Unethical Activities": "unethical",
    "Bias": "hate_discrimination",
    "Physical & Mental Health": "health_self_harm",
    "Toxicity": "harassment_insult",
    "Sensitive Topics": "misinformation_politics",
    "Privacy & Property": "privacy",
}

_XSTEST_CONTRAST = {"contrast_privacy": "privacy", "contrast_discr": "hate_discrimination"}


@lru_cache(maxsize=1)
def sorry_bench_categories() -> list[dict[str, str]]:
    """The 44 SORRY-Bench (2025/03) categories: id, domain, name, short name, id in 2024/06, coarse."""
    path = resources.files("babelsafe.datasets").joinpath("data/sorry_bench/taxonomy_202503.csv")
    with path.open("r", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["coarse"] = _SORRY_BY_ID[int(r["id_202503"])]
    return rows


@lru_cache(maxsize=3)
def _sorry_lookup(ids: str | None = "id_202503") -> dict[str, str]:
    """name/short name (and numeric id of the given version, if any) -> coarse."""
    out: dict[str, str] = {}
    for r in sorry_bench_categories():
        keys = [r["name_taxonomy_figure"], r["name_website_short"]] + ([r[ids]] if ids else [])
        for key in keys:
            out[key.lower()] = r["coarse"]
    if ids == "id_202406":
        out["12"] = "fraud_deception"  # 2024/06 #12 Impersonation, removed in 2025/03
    out["impersonation"] = "fraud_deception"
    return out


# dataset name -> the raw-category taxonomy it uses (the names `coarse` knows); datasets read from
# files or Hugging Face declare theirs with their `taxonomy` option instead
_DATASET_TAXONOMY = {"sorry-bench": "sorry-bench", "sorry_bench": "sorry-bench", "sorrybench": "sorry-bench",
                     "sorry-bench-202503": "sorry-bench", "sorry-bench-202406": "sorry-bench-202406"}
SORRY_BENCH_TAXONOMIES = frozenset({"sorry-bench", "sorry-bench-202406"})


def dataset_taxonomy(dataset: str) -> str:
    """The taxonomy a dataset name implies (its own name when no other table applies)."""
    ds = dataset.lower()
    return _DATASET_TAXONOMY.get(ds, ds)


def coarse(dataset: str, raw_category: str | None) -> str:
    """The coarse category of a dataset's own category label ("other" when unknown or missing)."""
    if raw_category is None or raw_category == "":
        return "other"
    raw = str(raw_category).strip()
    ds = dataset.lower()
    if raw in COARSE:  # already coarse (e.g. a user file using our vocabulary)
        return raw
    if ds == "multijail":
        return _MULTIJAIL.get(raw, "other")
    if ds == "xsafety":
        return _XSAFETY.get(raw.removesuffix("_n").removesuffix("_en"), "other")
    ds = dataset_taxonomy(ds)
    if ds == "sorry-bench":
        return _sorry_lookup("id_202503").get(raw.lower(), "other")
    if ds == "sorry-bench-202406":
        return _sorry_lookup("id_202406").get(raw.lower(), "other")
    if ds == "catqa":
        return _CATQA.get(raw, "other")
    if ds == "longsafety":
        return _LONGSAFETY.get(raw, "other")
    if ds == "xstest":
        if not raw.startswith("contrast_"):
            return "benign"
        return _XSTEST_CONTRAST.get(raw, "other")
    if ds == "cyberseceval-frr":
        return "benign"
    if ds == "cyberseceval-prompt-injection":
        return "instruction_attack"
    # any other source (user files): try each table by exact name (never by bare numeric id)
    for table in (_MULTIJAIL, _XSAFETY, _CATQA, _LONGSAFETY):
        if raw in table:
            return table[raw]
    return _sorry_lookup(None).get(raw.lower(), "other")


def mapping(dataset: str) -> dict[str, str]:
    """The raw -> coarse table of a shipped dataset (for documentation and `babelsafe list`)."""
    ds = dataset.lower()
    if ds == "sorry-bench":
        return {r["name_taxonomy_figure"]: r["coarse"] for r in sorry_bench_categories()}
    return dict({"multijail": _MULTIJAIL, "xsafety": _XSAFETY, "catqa": _CATQA,
                 "longsafety": _LONGSAFETY}.get(ds, {}))
