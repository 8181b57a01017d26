"""The reshaping of results/ and metrics/ changed no figure: everything computed from the fixture run
(tests/fixture_run.py) equals what the code before it computed (tests/data/golden/, made by running
tests/golden_capture.py on commit 81caf6f). Checked on a store written by today's Store (schema v2)
and on the store the old code wrote (schema v1), read as is and after its upgrade."""
from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path


from babelsafe.results import RunReader, Store
from fixture_run import write_fixture_run
from golden_capture import capture

GOLDEN = Path(__file__).parent.parent / "data" / "golden"


def _golden() -> dict:
    with gzip.open(GOLDEN / "fixture_outputs.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def _canon(obj: object) -> object:
    return json.loads(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str))


def _without_names(obj: object) -> object:
    """The golden outputs predate the honest names of issue 12 (summary 'headline', definitions
    'headline', judges[j]['measures'], compare's 'measure'): names, not figures, so they are left out of
    the comparison."""
    if isinstance(obj, dict):
        out = {k: _without_names(v) for k, v in obj.items() if k not in ("headline", "measures", "measure")}
        return out
    if isinstance(obj, list):
        return [_without_names(v) for v in obj]
    return obj


# keys added after the golden capture (issue 13: compare's pairing options and repeated probes); every
# figure the capture holds must still be equal
_ADDED = {("compare",): ("pair_on", "transform_a", "transform_b", "repeated_a", "repeated_b"),
          ("summary", "definitions"): ("duplicates", "scoring", "helpfulness"),  # + issue 15's helpfulness
          ("summary",): ("scoring",),  # issue 12: a names-only panel (is each dataset scored as its paper does)
          ("summary", "run"): ("traces",)}  # per-answer traces counted, not copied (none in the fixture)


def _assert_same(got: dict, want: dict) -> None:
    got = _without_names(_canon(got))
    # compare's metric is a name too: the fixture compares on its refusal judge, which measures
    # 'answered, not refused' (issue 12 item 6; the capture said 'unsafe')
    metric = got.get("compare", {}).get("metric")
    if metric is not None:
        assert metric == want["compare"]["metric"].replace("unsafe rate", "answered, not refused rate")
        got["compare"]["metric"] = want["compare"]["metric"]
    for path, added in _ADDED.items():
        g, w = got, want
        for k in path[:-1]:
            g, w = g.get(k) or {}, w.get(k) or {}
        last = path[-1]
        if isinstance(g.get(last), dict) and isinstance(w.get(last), dict):
            g[last] = {k: v for k, v in g[last].items() if k not in added or k in w[last]}
    for key in want:  # one key at a time: a failure names the part that moved
        assert got[key] == want[key], f"{key} differs from the golden output"
    assert set(got) == set(want)


def _v1_run(tmp: Path, name: str) -> Path:
    run = tmp / name
    run.mkdir()
    con = sqlite3.connect(run / "results.sqlite")
    with gzip.open(GOLDEN / f"fixture_store_v1_{name}.sql.gz", "rt", encoding="utf-8") as f:
        con.executescript(f.read())
    con.close()
    return run


def test_todays_store_gives_the_golden_outputs(tmp_path: Path):
    for name, seed in (("a", 11), ("b", 12)):
        (tmp_path / name).mkdir()
        with Store(tmp_path / name / "results.sqlite") as st:
            write_fixture_run(st, seed=seed)
    with RunReader(tmp_path / "a") as r:
        assert r.version == 2
    _assert_same(capture(tmp_path / "a", tmp_path / "b"), _golden())


def test_old_store_read_as_is_gives_the_golden_outputs(tmp_path: Path):
    a, b = _v1_run(tmp_path, "a"), _v1_run(tmp_path, "b")
    with RunReader(a) as r:
        assert r.version == 1
    _assert_same(capture(a, b), _golden())


def test_old_store_upgraded_gives_the_golden_outputs(tmp_path: Path):
    a, b = _v1_run(tmp_path, "a"), _v1_run(tmp_path, "b")
    Store(a / "results.sqlite").close()  # opening for writing upgrades in place
    with RunReader(a) as r:
        assert r.version == 2
        assert r.has_pairs()
    _assert_same(capture(a, b), _golden())
