"""Property tests: numbers that could be wrong without anyone noticing (hypothesis)."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from babelsafe.metrics.compare import _DUP, _merge
from babelsafe.metrics.stats import fleiss_kappa, mcnemar_exact, paired_difference, proportion, wilson
from babelsafe.metrics.summary import _Pass
from babelsafe.metrics.tally import Tally

counts = st.integers(min_value=0, max_value=400)


@given(counts, counts)
def test_wilson_interval_holds_the_rate_and_is_symmetric(k, extra):
    n = k + extra
    if n == 0:
        assert proportion(k, n)["rate"] is None
        return
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo2, hi2 = wilson(n - k, n)
    assert lo == pytest.approx(1 - hi2, abs=1e-12) and hi == pytest.approx(1 - lo2, abs=1e-12)


@given(counts, counts)
def test_mcnemar_is_a_symmetric_probability(b, c):
    p = mcnemar_exact(b, c)
    assert 0.0 < p <= 1.0 and p == mcnemar_exact(c, b)
    if b == c:
        assert p == 1.0
    assert mcnemar_exact(b + 1, c) <= p or b < c  # more discordance the same way: no larger p


@given(counts, counts, counts, counts)
def test_paired_difference_interval_holds_the_difference_and_flips(a, b, c, d):
    r = paired_difference(a, b, c, d)
    if a + b + c + d == 0:
        assert r["diff"] is None
        return
    assert -1.0 <= r["lo"] <= r["diff"] + 1e-12 and r["diff"] - 1e-12 <= r["hi"] <= 1.0
    s = paired_difference(a, c, b, d)
    assert s["diff"] == pytest.approx(-r["diff"]) and s["lo"] == pytest.approx(-r["hi"])


@given(st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=1, max_size=30))
def test_fleiss_kappa_is_at_most_one(rows):
    k = fleiss_kappa(rows)
    assert k is None or k <= 1.0 + 1e-9


@given(st.lists(st.sampled_from(["full_compliance", "full_refusal", "partial_refusal", "invalid", "error",
                                 "judge_error", "unjudged", "content_filter"]), max_size=60))
def test_tally_rates_partition_the_harmful_answers(labels):
    t = Tally()
    for lab in labels:
        t.add(lab, False)
    v = t.view("refusal")
    r = v["rates"]
    if v["n_harmful"] == 0:
        assert r["unsafe"]["rate"] is None
        return
    assert r["unsafe"]["k"] + r["safe"]["k"] + r["invalid"]["k"] == v["n_harmful"]
    assert v["n_harmful"] == sum(1 for x in labels if x not in ("error", "judge_error", "unjudged"))


_ROW = st.tuples(st.sampled_from(["t1", "t2"]), st.sampled_from(["refusal", None]), st.sampled_from(["d"]),
                 st.sampled_from(["1", "2"]), st.sampled_from(["en", "bn"]), st.sampled_from(["c", None]),
                 st.sampled_from(["none", "translate"]), st.sampled_from(["", "benign"]),
                 st.sampled_from(["full_refusal", "full_compliance"]), st.sampled_from(["", "k1", "k2", "k3"]))


@settings(max_examples=300)
@given(st.lists(_ROW, max_size=40), st.randoms())
def test_distinct_counting_is_order_free_and_counts_each_request_once(rows, rnd):
    # a request has one label per judge (the same answer judged once): make the rows consistent
    label_of: dict = {}
    rows = [r[:8] + (label_of.setdefault((r[0], r[1], r[9]) if r[9] else object(), r[8]), r[9]) for r in rows]

    def run(rs):
        p = _Pass(lambda lang: "x", {})
        p._count_distinct(rs)
        return +p.raw_counts, +p.dup_counts

    a = run(rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert run(shuffled) == a
    counted, dups = a
    distinct = {(r[0], r[1], r[9]) for r in rows if r[9]}
    assert sum(counted.values()) == len(distinct) + sum(1 for r in rows if not r[9])
    assert sum(dups.values()) == len(rows) - sum(counted.values())


_KEYED = st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from(["none", "aim"])), max_size=25)


@settings(max_examples=300)
@given(_KEYED, _KEYED)
def test_merge_accounts_for_every_row_exactly_once(a, b):
    ra = sorted(((k,), "", f"A{i}", tr, "en") for i, (k, tr) in enumerate(a))
    rb = sorted(((k,), "", f"B{i}", tr, "en") for i, (k, tr) in enumerate(b))
    out = list(_merge(iter(ra), iter(rb)))
    pairs = [o for o in out if o[2] is not None and o[3] is not None and _DUP not in (o[4], o[5])]
    only_a = [o for o in out if o[3] is None and o[4] is not _DUP]
    only_b = [o for o in out if o[2] is None and o[5] is not _DUP]
    dup_a = [o for o in out if o[4] is _DUP]
    dup_b = [o for o in out if o[5] is _DUP]
    assert len(pairs) + len(only_a) + len(dup_a) == len(ra)
    assert len(pairs) + len(only_b) + len(dup_b) == len(rb)
    assert len(pairs) == len({r[0] for r in ra} & {r[0] for r in rb})
    assert Counter(o[0] for o in pairs) == Counter({k: 1 for k in {r[0] for r in ra} & {r[0] for r in rb}})

