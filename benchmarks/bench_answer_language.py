"""Which language the refusal judge reports for real text of languages it knows and does not know.

    python benchmarks/bench_answer_language.py [--max N] [--save OUT.json] [--against OLD.json]
                                               [--langs hr,pl,...] [--show LANG]

Each verdict records the answer's language (extra.answer_language, reported per language: "answered in
English: 40%"). For a language the judge has no lexicon for, it must say 'und', never name a wrong
language. Real text we did not write, installed on this machine, cut into answer-length chunks
(200-400 characters):
- gettext: the system's translation catalogues (/usr/share/locale/<locale>/LC_MESSAGES/*.mo), translated
  strings of 5+ words (untranslated ones and ISO code lists left out) joined in catalogue order;
- vim: vim's tutor translations (/usr/share/vim/vim*/tutor/tutor.<lang>.utf-8);
- man: translated man pages (/usr/share/man/<locale>/man*/*.gz), roff requests removed, and paragraphs
  mostly in the English original (/usr/share/man/man*/: left untranslated) left out.
THE FIGURES DEPEND ON THE INSTALLED CATALOGUES: which languages are there, and how many chunks each
gives, come from the files on the machine; a language whose files are absent is left out. At most --max
chunks (default 300) per language and source, evenly spaced, each judged by RefusalJudge.classify with
the language as the prompt's (the prior) for a known language and no prior for an unknown one.

Known: the 19 lexicon languages and el/he (a script with one living language). A chunk is counted as
right (its own language named), wrong (another known language named), und, or none (no letters).
"""
from __future__ import annotations

import argparse
import collections
import gettext
import glob
import gzip
import json
import logging
import os
import re
import sys
import textwrap
import time
from pathlib import Path

from babelsafe.judges.refusal import RefusalJudge

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {p.stem for p in (ROOT / "src/babelsafe/judges/lexicons").glob("*.yaml")} - {"cyberseceval"}
KNOWN |= {"el", "he"}  # named by their script (answer_text._SCRIPT_LANGUAGE), no lexicon

# locale folder -> language code (BCP 47 style: a script subtag where the locale names another script)
_SPECIAL = {"sr@latin": "sr-Latn", "sr@Latn": "sr-Latn", "sr@ije": "sr", "be@latin": "be-Latn",
            "uz@cyrillic": "uz-Cyrl", "tt@iqtelif": "tt-Latn", "en@shaw": "en-Shaw", "pa_PK": "pa-Arab",
            "az_IR": "az-Arab", "no": "nb", "nb_NO": "nb", "mo": "ro", "ca@valencia": "ca", "fil": "tl"}
_SKIP_MO = re.compile(r"iso_|iso-|_3166|_639|_15924|_4217|xkeyboard|tzdata")
_CLEAN = re.compile(r"%[-0-9.]*[a-zA-Z]|%\([a-z_]+\)[a-z]|\{[^}]*\}|<[^>]+>|&[a-z]+;|_(?=\w)|\\n|\n")
_ROFF = re.compile(r"\\f[BIRP]|\\f\(..|\\[-&e|^(){}]|\\\*\(..|\\\*.|\\s[-+]?\d|\\\(..")


def code_of(locale: str) -> str | None:
    """Language code of a locale folder name (None: not a language, or English variants)."""
    if locale in _SPECIAL:
        return _SPECIAL[locale]
    if locale.startswith("en") or "." in locale or not locale[:1].isalpha():
        return None  # English and its quote variants: not translations
    return locale.split("@")[0].split("_")[0]


def _chunks(pieces: list[str], lo: int = 200, hi: int = 400) -> list[str]:
    out, buf = [], ""
    for s in pieces:
        buf = (buf + " " + s).strip()
        if len(buf) >= lo:
            cut = buf[:hi]
            if len(buf) > hi and " " in cut:
                cut = cut[:cut.rindex(" ")]
            out.append(cut)
            buf = ""
    return out


def gettext_chunks(locale_dir: str) -> list[str]:
    strings = []
    for mo in sorted(glob.glob(f"{locale_dir}/LC_MESSAGES/*.mo")):
        if _SKIP_MO.search(os.path.basename(mo)):
            continue
        try:
            with open(mo, "rb") as fh:
                cat = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        except Exception:  # a catalogue Python cannot read: skip it
            continue
        for k in sorted(cat, key=str):
            v = cat[k]
            src = k if isinstance(k, str) else k[0]
            if not isinstance(v, str) or not v.strip() or not src or v.strip() == src.strip():
                continue  # empty, the header, or untranslated
            v = " ".join(_CLEAN.sub(" ", v).split())
            if len(v.split()) >= 5 and sum(c.isalpha() for c in v) > 0.7 * len(v.replace(" ", "")):
                strings.append(v)
    return _chunks(strings)


def paragraphs(path: str) -> list[str]:
    """Paragraphs of a vim tutor or a (gzipped roff) man page, whitespace collapsed."""
    roff = path.endswith(".gz")
    try:
        raw = (gzip.open(path, "rt", encoding="utf-8", errors="replace").read() if roff
               else open(path, encoding="utf-8", errors="replace").read())
    except OSError:
        return []
    lines = []
    for ln in raw.splitlines():
        if roff:
            if ln.startswith((".", "'")):
                if ln[:3] in (".PP", ".SH", ".TP", ".IP", ".SS", ".P", ".LP"):
                    lines.append("")
                m = re.match(r"\.(B|I|BR|IR|RB|RI|BI|IB)\s+(.*)", ln)
                if m:
                    lines.append(m.group(2).replace('"', ""))
                continue
            ln = _ROFF.sub("", ln)
        lines.append(ln)
    return [" ".join(p.split()) for p in "\n".join(lines).split("\n\n")]


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + 4]) for i in range(max(1, len(words) - 3))}


def prose_chunks(path: str, original: str | None = None) -> list[str]:
    """A tutor's or man page's paragraphs joined into chunks; a man page's paragraphs whose 4-word runs
    are mostly in its English original (`original`) are left out (parts left untranslated: English)."""
    english: set[tuple[str, ...]] = set()
    if original and os.path.exists(original):
        for p in paragraphs(original):
            english |= _shingles(p)

    def untranslated(p: str) -> bool:
        sh = _shingles(p)
        return bool(english) and len(sh & english) >= 0.5 * len(sh)

    return _chunks([p for p in paragraphs(path)
                    if sum(c.isalpha() for c in p) >= 0.6 * max(1, len(p)) and not untranslated(p)])


def _spaced(items: list[str], n: int) -> list[str]:
    return items if len(items) <= n else [items[i * len(items) // n] for i in range(n)]


def corpus(max_per_source: int, langs: set[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """{language: {source: chunks}} from the files installed here."""
    out: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))

    def add(code: str | None, source: str, chunks: list[str]) -> None:
        if code and (langs is None or code in langs) and chunks:
            out[code][source].extend(chunks)

    for d in sorted(glob.glob("/usr/share/locale/*/")):
        add(code_of(os.path.basename(d.rstrip("/"))), "gettext", gettext_chunks(d))
    for f in sorted(glob.glob("/usr/share/vim/vim*/tutor/tutor.*.utf-8")):
        add(code_of(os.path.basename(f)[len("tutor."):-len(".utf-8")]), "vim", prose_chunks(f))
    for d in sorted(glob.glob("/usr/share/man/*/")):
        loc = os.path.basename(d.rstrip("/"))
        if not loc.startswith("man"):
            add(code_of(loc), "man", [c for f in sorted(glob.glob(f"{d}man*/*.gz"))
                                      for c in prose_chunks(f, f.replace(f"/{loc}/", "/", 1))])
    return {lang: {s: _spaced(list(dict.fromkeys(c)), max_per_source) for s, c in src.items()}
            for lang, src in sorted(out.items())}


def measure(data: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, int]]:
    """{language: {reported language or '-' (none): chunks}} over every source."""
    judge = RefusalJudge()
    res: dict[str, dict[str, int]] = {}
    for lang, sources in data.items():
        prior = lang if lang in KNOWN else None
        c: collections.Counter[str] = collections.Counter()
        for chunks in sources.values():
            for text in chunks:
                c[(judge.classify(text, "", prior).extra or {}).get("answer_language") or "-"] += 1
        res[lang] = dict(c.most_common())
    return res


def _shares(lang: str, counts: dict[str, int]) -> tuple[int, float, float, float]:
    n = sum(counts.values())
    right = counts.get(lang, 0)
    und = counts.get("und", 0)
    wrong = sum(v for k, v in counts.items() if k not in (lang, "und", "-"))
    return n, (right if lang in KNOWN else wrong) / n, wrong / n, und / n


def table(res: dict[str, dict[str, int]], old: dict[str, dict[str, int]] | None, full: bool = False) -> None:
    """Two tables, 80 columns: unknown languages (wrong = a lexicon language named; those never named
    wrong here or in `old` on one line unless `full`), then the known ones (right = their own name)."""
    def names(lang: str, counts: dict[str, int]) -> str:
        bad = [(k, v) for k, v in counts.items() if k not in (lang, "und", "-")]
        return " ".join(f"{k} {v}" for k, v in sorted(bad, key=lambda kv: -kv[1])[:3])

    for title, group, key in (("UNKNOWN languages (must be und): wrong = a known language named",
                               [k for k in res if k not in KNOWN], "wrong"),
                              ("KNOWN languages: right = its own language named", [k for k in res if k in KNOWN],
                               "right")):
        print(title)
        print(f"{'lang':8} {'chunks':>6} {key + '%':>7} {'was%':>6} {'und%':>6} {'was%':>6}  names (most often)")
        rows = sorted(group, key=lambda k: (-_shares(k, res[k])[1], k) if key == "wrong" else (k,))
        tot: collections.Counter[str] = collections.Counter()
        quiet = []
        for lang in rows:
            n, main, _, und = _shares(lang, res[lang])
            was = _shares(lang, old[lang]) if old and lang in old else None
            tot["n"] += n
            tot["main"] += round(main * n)
            if was:
                tot["was"] += round(was[1] * was[0])
                tot["was_n"] += was[0]
            if key == "wrong" and not full and main == 0 and (was is None or was[1] == 0):
                quiet.append(lang)
                continue
            w_main = f"{100 * was[1]:6.1f}" if was else "     -"
            w_und = f"{100 * was[3]:6.1f}" if was else "     -"
            print(f"{lang:8} {n:6} {100 * main:7.1f} {w_main} {100 * und:6.1f} {w_und}  "
                  f"{names(lang, res[lang])[:30]}")
        if quiet:
            print(textwrap.fill(f"never named wrong ({len(quiet)}, 'und' or no letters): " + " ".join(quiet),
                                width=80))
        if tot["n"]:
            was_s = f"{100 * tot['was'] / tot['was_n']:6.1f}" if tot["was_n"] else "     -"
            print(f"{'all':8} {tot['n']:6} {100 * tot['main'] / tot['n']:7.1f} {was_s}")
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=300, help="chunks per language and source (evenly spaced)")
    ap.add_argument("--langs", help="only these language codes (comma-separated)")
    ap.add_argument("--save", help="write the counts to this JSON file")
    ap.add_argument("--against", help="a --save file of another tree: its shares as the 'was' columns")
    ap.add_argument("--show", help="print this language's chunks that name a wrong language")
    ap.add_argument("--full", action="store_true", help="a row for every language")
    args = ap.parse_args()
    logging.getLogger("babelsafe").setLevel(logging.ERROR)  # "no lexicon for Greek" warnings: expected here
    t0 = time.perf_counter()
    data = corpus(args.max, set(args.langs.split(",")) if args.langs else None)
    if not data:
        print("no catalogues, tutors or man pages installed: nothing to measure")
        return
    t1 = time.perf_counter()
    res = measure(data)
    print(f"FIGURES DEPEND ON THE INSTALLED CATALOGUES: {sum(len(c) for s in data.values() for c in s.values())} "
          f"chunks, {len(data)} languages\n(corpus {t1 - t0:.1f} s, judge {time.perf_counter() - t1:.1f} s)\n")
    old = json.load(open(args.against, encoding="utf-8")) if args.against else None
    table(res, old, args.full)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump(res, fh, ensure_ascii=False, indent=0, sort_keys=True)
    if args.show:
        judge = RefusalJudge()
        prior = args.show if args.show in KNOWN else None
        for src, chunks in data.get(args.show, {}).items():
            for text in chunks:
                got = (judge.classify(text, "", prior).extra or {}).get("answer_language")
                if got not in (args.show, "und", None):
                    print(f"[{src} -> {got}] {text[:200]}")


if __name__ == "__main__":
    sys.exit(main())
