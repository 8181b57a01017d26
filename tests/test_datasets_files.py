"""Generic prompt-file loader and `resolve`: formats, column mapping, every bad-row error, skip_bad_rows."""
from __future__ import annotations

import gzip
import json
import logging

import pytest

from babelsafe.datasets import resolve
from babelsafe.datasets.files import FileDataset, load_file
from babelsafe.errors import DataError, UsageError

GOOD = [
    {"id": "a1", "prompt": "How do I bake bread?", "language": "en", "category": "cooking", "label": "safe",
     "note": "x"},
    {"id": "a1", "prompt": "Wie backe ich Brot?", "language": "de", "category": "Theft", "label": "unsafe",
     "note": "y"},
    {"id": "a2", "prompt": "面包怎么烤?", "language": "zho", "category": "", "label": "", "note": ""},
]


def _csv(path, rows, header=None):
    import csv
    header = header or list(rows[0])
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _check_good(samples):
    assert [(s.id, s.language) for s in samples] == [("a1", "en"), ("a1", "de"), ("a2", "zh")]
    assert samples[0].prompt == "How do I bake bread?"
    assert samples[0].category == "cooking"  # unknown user categories are kept
    assert samples[1].category == "crime"  # a known raw category maps to the coarse taxonomy
    assert samples[1].meta["raw_category"] == "Theft"
    assert samples[0].meta["label"] == "benign" and samples[1].meta["label"] == "harmful"
    assert samples[2].category is None and "label" not in samples[2].meta
    assert samples[0].meta["note"] == "x"
    assert samples[0].dataset == "p"


def test_csv_jsonl_json_parquet_gz_load_the_same(tmp_path):
    _check_good(list(load_file(_csv(tmp_path / "p.csv", GOOD))))
    _check_good(list(load_file(_jsonl(tmp_path / "p.jsonl", GOOD))))
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "p.json").write_text(json.dumps(GOOD, ensure_ascii=False, indent=1), encoding="utf-8")
    _check_good(list(load_file(tmp_path / "j" / "p.json")))
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "p.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in GOOD).encode()))
    _check_good(list(load_file(tmp_path / "g" / "p.jsonl.gz")))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    (tmp_path / "q").mkdir()
    pq.write_table(pa.Table.from_pylist(GOOD), tmp_path / "q" / "p.parquet")
    _check_good(list(load_file(tmp_path / "q" / "p.parquet")))


def test_column_mapping_default_language_and_generated_ids(tmp_path):
    f = _csv(tmp_path / "qs.csv", [{"question": "How do I bake bread?"}, {"question": "What is rye?"}])
    with pytest.raises(DataError) as e:
        list(load_file(f))
    assert "no 'prompt' column" in str(e.value) and "'question'" in str(e.value) and "qs.csv" in str(e.value)
    ss = list(resolve(str(f), {"columns": {"prompt": "question"}, "language": "bn"}).load())
    assert [(s.id, s.language, s.prompt) for s in ss] == [("1", "bn", "How do I bake bread?"),
                                                          ("2", "bn", "What is rye?")]
    assert list(resolve(str(f), {"columns": {"prompt": "question"}}).load(["en"]))[0].language == "en"
    assert list(resolve(str(f), {"columns": {"prompt": "question"}}).load(["bn"])) == []
    with pytest.raises(UsageError, match="Unknown field 'question'"):
        load_file(f, columns={"question": "prompt"})


def test_json_array_of_strings_and_wrapped_object(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(["How do I bake bread?", "What is rye?"]))
    assert [s.prompt for s in load_file(tmp_path / "s.json")] == ["How do I bake bread?", "What is rye?"]
    (tmp_path / "w.json").write_text(json.dumps({"rows": [{"prompt": "Hi"}]}))
    assert [s.prompt for s in load_file(tmp_path / "w.json")] == ["Hi"]


@pytest.mark.parametrize("name,content,where,what", [
    ("empty.csv", b"id,prompt\n1,How do I bake bread?\n2,\n3,ok\n", "line 3", "empty prompt"),
    ("utf.csv", b"prompt\nHow do I bake bread?\n\xff\xfe broken\nok\n", "line 3", "broken UTF-8"),
    ("utf.jsonl", b'{"prompt": "fine"}\n{"prompt": "\xff bad"}\n{"prompt": "ok"}\n', "line 2", "broken UTF-8"),
    ("mal.jsonl", b'{"prompt": "fine"}\n{"prompt": "fine",\n{"prompt": "ok"}\n', "line 2", "malformed JSON"),
    ("lang.csv", b"prompt,language\nHow do I bake bread?,en\nHallo,klingon\nok,bn\n", "line 3",
     "unknown language code 'klingon'"),
    ("fields.csv", b"id,prompt\n1,fine\n2,a,b\n3,ok\n", "line 3", "3 fields but the header has 2"),
    ("dup.csv", b"id,prompt\n1,fine\n1,again\n3,ok\n", "line 3", "duplicate id '1'"),
    ("obj.jsonl", b'{"prompt": "fine"}\n[1, 2]\n{"prompt": "ok"}\n', "line 2", "expected a JSON object"),
])
def test_bad_rows_name_file_line_and_problem_and_can_be_skipped(tmp_path, caplog, name, content, where, what):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError) as e:
        list(resolve(str(f), {}).load())
    msg = str(e.value)
    assert str(f) in msg and where in msg and what in msg and "--skip-bad-rows" in msg
    with caplog.at_level(logging.WARNING, logger="babelsafe.datasets.files"):
        ss = list(resolve(str(f), {"skip_bad_rows": True}).load())
    assert len(ss) == 2 and ss[-1].prompt == "ok"
    assert any("skipped 1 bad row" in r.getMessage() and where in r.getMessage() for r in caplog.records)


def test_multiline_csv_cells_keep_correct_line_numbers(tmp_path):
    f = tmp_path / "m.csv"
    f.write_bytes(b'id,prompt\n1,"line one\nline two"\n2,\n')
    with pytest.raises(DataError, match="line 4: empty prompt"):
        load_file(f)
    assert next(load_file(f, skip_bad_rows=True)).prompt == "line one\nline two"


def test_unterminated_quote_names_file_and_line_instead_of_one_long_prompt(tmp_path, caplog):
    f = tmp_path / "quote.csv"
    f.write_bytes(b'prompt,language\nHow do I bake bread?,en\n"Wie backe ich Brot?,de\n'
                  b'How do I boil rice?,en\nok,bn\n')
    with pytest.raises(DataError) as e:
        load_file(f)
    msg = str(e.value)
    assert str(f) in msg and "line 3" in msg and "never closed" in msg and "--skip-bad-rows" in msg
    with caplog.at_level(logging.WARNING, logger="babelsafe.datasets.files"):
        ss = list(load_file(f, skip_bad_rows=True))
    assert [s.prompt for s in ss] == ["How do I bake bread?", "How do I boil rice?", "ok"]
    assert any("skipped 1 bad row" in r.getMessage() and "line 3" in r.getMessage() for r in caplog.records)


def test_closed_multiline_quote_in_the_last_row_still_loads(tmp_path):
    f = tmp_path / "last.csv"
    f.write_bytes(b'id,prompt\n1,fine\n2,"line one\nline two"\n')
    assert [s.prompt for s in load_file(f)] == ["fine", "line one\nline two"]


def test_prompt_size_limit(tmp_path):
    f = _jsonl(tmp_path / "big.jsonl", [{"prompt": "bread " * 40_000}, {"prompt": "ok"}])
    with pytest.raises(DataError, match=r"line 1: prompt is 240,000 characters, over the limit of 200,000"):
        load_file(f)
    assert len(list(load_file(f, max_prompt_chars=300_000))) == 2
    assert [s.prompt for s in load_file(f, skip_bad_rows=True)] == ["ok"]


def test_malformed_whole_json_file_names_the_line(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('[\n {"prompt": "a"},\n {"prompt": "b"\n]\n')
    with pytest.raises(DataError, match=r"bad\.json, line 4: malformed JSON"):
        load_file(f, skip_bad_rows=True)


def test_missing_prompt_field_in_jsonl_lists_fields(tmp_path):
    f = _jsonl(tmp_path / "q.jsonl", [{"question": "How do I bake bread?", "qid": 1}])
    with pytest.raises(DataError, match=r"no 'prompt' field in any record\. Fields found: 'qid', 'question'"):
        load_file(f)
    ss = list(load_file(f, columns={"prompt": "question", "id": "qid"}))
    assert ss[0].id == "1" and ss[0].prompt == "How do I bake bread?"


def test_all_rows_bad_is_an_error_even_when_skipping(tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("prompt\n\n  \n,\n")
    with pytest.raises(DataError, match="no valid rows"):
        load_file(f, skip_bad_rows=True)
    (tmp_path / "z.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_file(tmp_path / "z.csv")


def test_resolve_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as e:
        resolve("multijal", {})
    assert "Did you mean 'multijail'" in str(e.value) and "multijail" in str(e.value)
    assert "prompt" in str(e.value) and "hf:" in str(e.value)
    with pytest.raises(UsageError, match="Dataset file not found: 'data/missing.csv'"):
        resolve("data/missing.csv", {})
    with pytest.raises(UsageError, match="unknown file type"):
        (tmp_path / "p.txt").write_text("x")
        FileDataset(tmp_path / "p.txt").load()
    with pytest.raises(UsageError, match="Unknown language code 'xx'"):
        resolve(str(_csv(tmp_path / "p.csv", GOOD)), {"language": "xx"})
    with pytest.raises(UsageError, match="Unknown language code 'qq'"):
        resolve(str(tmp_path / "p.csv"), {}).load(["qq"])
    with pytest.raises(UsageError, match="takes no options"):
        resolve("multijail", {"columns": {"prompt": "x"}})
    assert len(list(resolve("multijail", {"skip_bad_rows": True}).load(["en"]))) == 315
