"""Languages: ISO 639-1/639-3 codes, names, scripts, families and resource tiers.

Tiers follow MultiJail (Deng et al., ICLR 2024, Sec. 2.1: CommonCrawl share >1% high, >0.1% medium,
<0.1% low); languages of its 30-language preliminary study keep the tier it gives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import UsageError


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 where one exists, else 639-3
    iso3: str
    name: str
    script: str
    family: str
    tier: str  # reference | high | medium | low | unknown


_ROWS = """\
en eng English Latin Indo-European:Germanic reference
zh zho Chinese Han Sino-Tibetan high
it ita Italian Latin Indo-European:Romance high
vi vie Vietnamese Latin Austroasiatic high
ru rus Russian Cyrillic Indo-European:Slavic high
de deu German Latin Indo-European:Germanic high
ja jpn Japanese Japanese Japonic high
fr fra French Latin Indo-European:Romance high
es spa Spanish Latin Indo-European:Romance high
nl nld Dutch Latin Indo-European:Germanic high
pt por Portuguese Latin Indo-European:Romance high
pl pol Polish Latin Indo-European:Slavic high
tr tur Turkish Latin Turkic high
ar ara Arabic Arabic Afro-Asiatic medium
ko kor Korean Hangul Koreanic medium
th tha Thai Thai Kra-Dai medium
id ind Indonesian Latin Austronesian medium
sv swe Swedish Latin Indo-European:Germanic medium
fa fas Persian Arabic Indo-European:Iranian medium
el ell Greek Greek Indo-European:Hellenic medium
uk ukr Ukrainian Cyrillic Indo-European:Slavic medium
bg bul Bulgarian Cyrillic Indo-European:Slavic medium
hi hin Hindi Devanagari Indo-European:Indo-Aryan medium
cs ces Czech Latin Indo-European:Slavic medium
ro ron Romanian Latin Indo-European:Romance medium
hu hun Hungarian Latin Uralic medium
da dan Danish Latin Indo-European:Germanic medium
fi fin Finnish Latin Uralic medium
no nor Norwegian Latin Indo-European:Germanic medium
nb nob Norwegian_Bokmal Latin Indo-European:Germanic medium
he heb Hebrew Hebrew Afro-Asiatic medium
ms msa Malay Latin Austronesian medium
sr srp Serbian Cyrillic Indo-European:Slavic medium
hr hrv Croatian Latin Indo-European:Slavic medium
sk slk Slovak Latin Indo-European:Slavic medium
ca cat Catalan Latin Indo-European:Romance medium
lt lit Lithuanian Latin Indo-European:Baltic medium
sl slv Slovenian Latin Indo-European:Slavic medium
et est Estonian Latin Uralic medium
lv lav Latvian Latin Indo-European:Baltic medium
tl tgl Tagalog Latin Austronesian medium
fil fil Filipino Latin Austronesian medium
bn ben Bengali Bengali Indo-European:Indo-Aryan low
sw swa Swahili Latin Niger-Congo low
jv jav Javanese Latin Austronesian low
ta tam Tamil Tamil Dravidian low
ur urd Urdu Arabic Indo-European:Indo-Aryan low
ml mal Malayalam Malayalam Dravidian low
mr mar Marathi Devanagari Indo-European:Indo-Aryan low
te tel Telugu Telugu Dravidian low
gu guj Gujarati Gujarati Indo-European:Indo-Aryan low
my mya Burmese Myanmar Sino-Tibetan low
kn kan Kannada Kannada Dravidian low
pa pan Punjabi Gurmukhi Indo-European:Indo-Aryan low
ne nep Nepali Devanagari Indo-European:Indo-Aryan low
si sin Sinhala Sinhala Indo-European:Indo-Aryan low
am amh Amharic Ethiopic Afro-Asiatic low
ha hau Hausa Latin Afro-Asiatic low
yo yor Yoruba Latin Niger-Congo low
ig ibo Igbo Latin Niger-Congo low
zu zul Zulu Latin Niger-Congo low
xh xho Xhosa Latin Niger-Congo low
so som Somali Latin Afro-Asiatic low
km khm Khmer Khmer Austroasiatic low
lo lao Lao Lao Kra-Dai low
ka kat Georgian Georgian Kartvelian low
hy hye Armenian Armenian Indo-European:Armenian low
az aze Azerbaijani Latin Turkic low
kk kaz Kazakh Cyrillic Turkic low
uz uzb Uzbek Latin Turkic low
mn mon Mongolian Cyrillic Mongolic low
su sun Sundanese Latin Austronesian low
eu eus Basque Latin Isolate low
gl glg Galician Latin Indo-European:Romance low
cy cym Welsh Latin Indo-European:Celtic low
ga gle Irish Latin Indo-European:Celtic low
is isl Icelandic Latin Indo-European:Germanic low
mk mkd Macedonian Cyrillic Indo-European:Slavic low
sq sqi Albanian Latin Indo-European:Albanian low
bs bos Bosnian Latin Indo-European:Slavic low
be bel Belarusian Cyrillic Indo-European:Slavic low
la lat Latin Latin Indo-European:Italic low
eo epo Esperanto Latin Constructed low
af afr Afrikaans Latin Indo-European:Germanic low
ps pus Pashto Arabic Indo-European:Iranian low
tg tgk Tajik Cyrillic Indo-European:Iranian low
ky kir Kyrgyz Cyrillic Turkic low
mi mri Maori Latin Austronesian low
mg mlg Malagasy Latin Austronesian low
ny nya Chichewa Latin Niger-Congo low
sn sna Shona Latin Niger-Congo low
st sot Sesotho Latin Niger-Congo low
rw kin Kinyarwanda Latin Niger-Congo low
lg lug Ganda Latin Niger-Congo low
"""

LANGUAGES: dict[str, Language] = {}
for _row in _ROWS.splitlines():
    _c, _i3, _n, _s, _f, _t = _row.split()
    LANGUAGES[_c] = Language(_c, _i3, _n.replace("_", " "), _s, _f.replace(":", " / "), _t)

_ALIASES = {lang.iso3: lang.code for lang in LANGUAGES.values()}
_ALIASES.update({"sp": "es", "zh-cn": "zh", "zh-hans": "zh", "zh-tw": "zh", "pt-br": "pt", "iw": "he",
                 "in": "id", "cmn": "zh", "arb": "ar", "zsm": "ms", "swh": "sw", "pes": "fa"})
_ALIASES.update({lang.name.lower(): lang.code for lang in LANGUAGES.values()})

# MultiJail's tiers (the default grouping of reports); other languages use the table above.
MULTIJAIL_TIERS = {"en": "reference", "zh": "high", "it": "high", "vi": "high", "ar": "medium",
                   "ko": "medium", "th": "medium", "bn": "low", "sw": "low", "jv": "low"}


@lru_cache(maxsize=4096)  # called per row and per request with a handful of distinct values
def normalize(code: str) -> str:
    """Canonical code for an ISO 639-1/639-3 code, a common alias or an English name."""
    key = code.strip().lower().replace("_", "-")
    if key in LANGUAGES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    base = key.split("-")[0]
    if base in LANGUAGES:
        return base
    if base in _ALIASES:
        return _ALIASES[base]
    raise UsageError(
        f"Unknown language code '{code}'. Use ISO 639-1 or 639-3 codes, e.g. en, zh, bn, sw, jv "
        f"(run `babelsafe list languages` for all {len(LANGUAGES)})."
    )


def parse_list(codes: str | list[str] | None) -> list[str] | None:
    """'en,zh, bn' -> ['en', 'zh', 'bn'], each validated; None/empty -> None (all)."""
    if codes is None:
        return None
    items = codes.split(",") if isinstance(codes, str) else list(codes)
    out = [normalize(c) for c in items if c and c.strip()]
    return list(dict.fromkeys(out)) or None


def get(code: str) -> Language:
    return LANGUAGES[normalize(code)]


def tier(code: str, overrides: dict[str, str] | None = None) -> str:
    """Resource tier of a language; `overrides` (user-given) win, then MultiJail's, then the table."""
    if overrides and code in overrides:
        return overrides[code]
    if code in MULTIJAIL_TIERS:
        return MULTIJAIL_TIERS[code]
    lang = LANGUAGES.get(code)
    return lang.tier if lang else "unknown"


def lingua_detector(codes: tuple[str, ...]) -> Any:
    """The shared lingua detector for these codes (see babelsafe.text, where detection lives)."""
    from .text import lingua_detector as _build

    return _build(codes)


def name(code: str) -> str:
    lang = LANGUAGES.get(code)
    return lang.name if lang else code
