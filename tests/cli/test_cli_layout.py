"""cli/layout.py: tables that do not fit are split and stacked, listings stack; nothing is cut."""
from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console

from babelsafe.cli.layout import cell, fit_records, fit_tables

HEADERS = ["lang", "n", "accuracy [95% CI]", "kappa [95% CI]", "F1 compliance", "F1 refusal", "F1 partial",
           "errors"]
ROWS = [["en", "14", "0.93 [0.80, 1.00]", "0.90 [0.70, 1.00]", "1.00", "0.95", "0.80", "0"],
        ["overall", "183", "0.95 [0.91, 0.98]", "0.92 [0.87, 0.96]", "0.97", "0.96", "0.88", "1"]]


def text_of(renderable, width: int) -> str:
    con = Console(width=width, record=True, color_system=None)
    con.print(renderable)
    return con.export_text()


def test_wide_table_is_split_keeping_the_key_column_and_every_header():
    con = Console(width=60)
    out = text_of(fit_tables(con, "calibration", HEADERS, ROWS), 60)
    assert all(cell_len(line) <= 60 for line in out.splitlines())
    for h in HEADERS:
        assert h in out, h  # every header whole, none cut to "a…"
    assert "…" not in out
    assert out.count("overall") >= 2 and out.count("lang") >= 2  # the key column repeats in each part


def test_caption_of_a_split_table_spans_the_console_not_the_last_part():
    caption = ("Rates in %: 'answered, not refused' = harmful prompts answered, not refused; B-A in points "
               "with Newcombe's paired 95% interval")
    out = text_of(fit_tables(Console(width=60), "calibration", HEADERS, ROWS, caption=caption), 60)
    lines = [line.rstrip() for line in out.splitlines()]
    assert all(cell_len(line) <= 60 for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("Rates in %"))
    assert " ".join(" ".join(lines[start:]).split()) == caption  # whole, after every part
    assert len(lines) - start <= 3  # wrapped at 60 columns (in the last part's width it took a dozen lines)
    assert "overall" not in " ".join(lines[start:])


def test_table_that_fits_stays_one_table():
    out = text_of(fit_tables(Console(width=200), "calibration", HEADERS, ROWS), 200)
    assert out.count("overall") == 1 and out.count("lang") == 1


def test_listing_wraps_between_words_then_stacks_when_too_narrow():
    records = [{"name": "cyberseceval-prompt-injection", "languages": "en, hi, bn, tr, ar, it, es, vi +10",
                "license": "custom (gated on Hugging Face); category names only are shipped"},
               {"name": "xstest", "languages": "en", "license": "CC-BY-4.0"}]
    wide = text_of(fit_records(Console(width=80), None, records, ["languages", "license"]), 80)
    assert "cyberseceval-prompt-injection" in wide and "name" in wide.splitlines()[0]
    narrow = text_of(fit_records(Console(width=40), None, records, ["languages", "license"]), 40)
    assert all(cell_len(line) <= 40 for line in narrow.splitlines())
    lines = [ln.strip() for ln in narrow.splitlines()]
    assert "cyberseceval-prompt-injection" in lines  # the name alone on its line, whole
    assert any(ln.startswith("license") for ln in lines)


def test_cell_joins_and_counts_the_rest():
    assert cell(["en", "sw", "bn"]) == "en, sw, bn"
    assert cell(list("abcdefghij"), 8) == "a, b, c, d, e, f, g, h +2"
    assert cell(None) == "" and cell(3150) == "3150"
