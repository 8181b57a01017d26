"""Llama-Guard output format ("safe" / "unsafe\\nS1,S3") and its categories mapped to babelsafe's taxonomy."""
from __future__ import annotations

import re

# Llama Guard 3 hazard codes (MLCommons taxonomy) -> babelsafe coarse categories (babelsafe.taxonomy.COARSE).
LLAMA_GUARD_TO_COARSE: dict[str, str] = {
    "S1": "violence",  # Violent Crimes
    "S2": "crime",  # Non-Violent Crimes
    "S3": "sexual_content",  # Sex-Related Crimes
    "S4": "child_abuse",  # Child Sexual Exploitation
    "S5": "harassment_insult",  # Defamation
    "S6": "unqualified_advice",  # Specialized Advice
    "S7": "privacy",  # Privacy
    "S8": "crime",  # Intellectual Property
    "S9": "weapons_terrorism",  # Indiscriminate Weapons
    "S10": "hate_discrimination",  # Hate
    "S11": "health_self_harm",  # Suicide & Self-Harm
    "S12": "sexual_content",  # Sexual Content
    "S13": "misinformation_politics",  # Elections
    "S14": "cybercrime",  # Code Interpreter Abuse
}
# Llama Guard 1/2 used O1..O6 / S1..S11 with other meanings; codes are kept as given in Verdict.extra.

_FIRST = re.compile(r"^\W*(safe|unsafe)\b", re.IGNORECASE)
_ANY = re.compile(r"\b(unsafe|safe)\b", re.IGNORECASE)
_CODES = re.compile(r"\b([SO]\d{1,2})\b", re.IGNORECASE)


def parse_llama_guard(text: str | None) -> tuple[str | None, list[str]]:
    """('safe'|'unsafe'|None, [category codes]) from a Llama-Guard-style reply.

    The first non-empty line must start with safe/unsafe; if it does not, the first safe/unsafe word
    anywhere is used. Category codes (S1..S14, O1..O7) are read from the rest of the reply.
    """
    if not text or not text.strip():
        return None, []
    body = text.strip()
    m = _FIRST.match(body)
    if m is None:
        m = _ANY.search(body)
    if m is None:
        return None, []
    label = m.group(1).lower()
    rest = body[m.end():]
    codes = [c.upper() for c in _CODES.findall(rest)] if label == "unsafe" else []
    return label, list(dict.fromkeys(codes))


def coarse_categories(codes: list[str]) -> list[str]:
    """babelsafe coarse categories for Llama-Guard-3 codes (unknown codes are skipped)."""
    return list(dict.fromkeys(LLAMA_GUARD_TO_COARSE[c] for c in codes if c in LLAMA_GUARD_TO_COARSE))
