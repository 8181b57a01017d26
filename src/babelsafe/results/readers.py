"""Typed, read-only access to a run's store: the queries metrics, comparisons, reports and the defense
export need, and nothing else. Every row type is a NamedTuple; the hot streams (label rows, export
rows) come as batches of plain tuples in the NamedTuple's field order, because wrapping millions of
rows costs more than the whole aggregation.

    with RunReader(run_dir) as r:
        spec = r.spec()
        for batch in r.label_batches(ordered=True): ...
"""
from __future__ import annotations

import copy
import functools
import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from ..labels import EXCLUDED
from .schema import Columns, connect, store_path, store_version

log = logging.getLogger(__name__)

BATCH = 20_000


class LabelRow(NamedTuple):
    """One generation seen by one judge (judge None when the run has no verdicts at all)."""

    target: str
    judge: str | None
    dataset: str
    item_id: str
    language: str  # the probe's language
    category: str | None
    transform: str
    prompt_label: str  # lower-cased dataset label of the prompt ('' when none)
    label: str  # the verdict label, or error | content_filter | unjudged
    request: str  # the generation's cache key: identical requests share it ('' for never-sent probes)
    probe_key: str


class PairRow(NamedTuple):
    """A judged answer to one side of a paired prompt (PCJailbreak)."""

    target: str
    language: str
    dataset: str
    item_id: str
    pair_id: str | None
    pair_role: str
    label: str


class XlingRow(NamedTuple):
    """An answer of the cross-lingual consistency task: its `consistency` verdict (None when unjudged),
    or its generation error (a missing language version, a failed call)."""

    target: str
    language: str
    dataset: str
    item: str
    outcome: str  # the generation's outcome: ok | error | content_filter
    error_kind: str | None  # invalid_item: the item has no version in this language
    error: str | None
    judge: str | None
    label: str | None
    verdict_error: str | None  # why the judge could not score it (label judge_error)
    extra: dict[str, Any] | None


class MCQRow(NamedTuple):
    """A judged answer to a multiple-choice item (verdict label correct | incorrect | no_answer)."""

    target: str
    judge: str
    language: str
    category: str | None
    dataset: str
    item: str  # the item id shared by its variants
    variant: str  # original | swapped (the contamination probe)
    transform: str
    label: str


class HelpfulRow(NamedTuple):
    """A judged answer seen by a helpfulness judge (the `helpfulness` rubric or `answer-match`)."""

    target: str
    judge: str
    language: str
    category: str | None
    dataset: str
    item: str
    transform: str
    label: str  # helpful_1..5 | match | mismatch | no_key | judge_error
    score: float | None


class CosaRow(NamedTuple):
    """An answered generation with the judge's label and extra fields (label None when unjudged)."""

    language: str
    category: str | None
    prompt_label: str
    label: str | None
    extra: dict[str, Any] | None


# how `compare` may pair probes of two runs: field -> store columns (in key order)
_PAIR_COLUMNS = {"sample": ("dataset", "item_id"), "language": ("language",), "transform": ("transform",)}
PAIR_FIELDS = ("sample", "language")


class CompareRow(NamedTuple):
    key: tuple[str, ...]  # the pair_on fields (dataset, item_id[, language][, transform]), target role
    prompt_label: str
    label: str
    transform: str = ""
    language: str = ""


class CandidateRow(NamedTuple):
    """An answered generation for the defense export (training examples)."""

    messages: list[dict[str, Any]]
    language: str
    category: str | None
    dataset: str
    item_id: str
    prompt_label: str | None  # as the dataset gave it
    target: str
    text: str | None
    decoded: str | None
    outcome: str
    label: str | None


class ModalityRow(NamedTuple):
    """One generation with the primary judge's label, for image + text metrics."""

    target: str
    dataset: str
    language: str
    modality: str  # 'text' | 'image+text'
    transform: str
    prompt_label: str
    label: str  # the verdict label, or error | content_filter | unjudged
    context: str | None  # MSSBench: 'safe' | 'unsafe' image context
    level: int | None  # the judge's own scale (VLSBench 1-3, MSSBench 0-3) when its rubric has one
class AgentVerdictRow(NamedTuple):
    """A verdict on an answered agent scenario (a sample whose meta names the task "agent")."""

    judge: str
    label: str
    target: str
    language: str
    category: str | None
    item_id: str
    meta: str | None  # the sample's meta JSON (failure modes, benign label)
    transform: str


AGENT_TRACE_KIND = "agent_trace"  # components.kind of an agent run's action traces (agents/loop.py)
XLING_TRACE_KIND = "xling_trace"  # components.kind of a consistency run's per-question traces (xling/task.py)
# One component per answer: the store keeps them, the run's metadata counts them (not a summary's content)
PER_ANSWER_KINDS = (AGENT_TRACE_KIND, XLING_TRACE_KIND)
_AGENT_SAMPLE = "s.meta LIKE '%\"task\":\"agent\"%'"
_XLING_SAMPLE = "(s.meta LIKE '%\"task\": \"consistency\"%' OR s.meta LIKE '%\"task\":\"consistency\"%')"


class UnsafePrompt(NamedTuple):
    """A prompt (as the dataset gave it) that got an unsafe or complied-with verdict (generate --evolve)."""

    dataset: str
    item_id: str
    language: str
    category: str | None
    prompt: str
    judge: str
    label: str


class TargetUsage(NamedTuple):
    target: str
    generations: int
    prompt_tokens: int | None
    completion_tokens: int | None
    cached: int | None
    mean_latency_s: float | None


class CallUsage(NamedTuple):
    component: str
    purpose: str
    calls: int
    prompt_tokens: int | None
    completion_tokens: int | None


class DatasetSize(NamedTuple):
    name: str
    samples: int
    languages: int


class ExportQuery(NamedTuple):
    """The export SELECT (picklable: export helper processes run it on their own connection)."""

    sql: str
    params: list[Any]


def _chunks(keys: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Keys in lists small enough for one IN (...) (SQLite's bound-parameter limit)."""
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


def loads(text: str | None) -> Any:
    """A stored JSON value (specs written by older versions may be YAML); the text itself otherwise."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        try:
            import yaml
            return yaml.safe_load(text)
        except Exception:
            return text


PREFETCHED = ("target_usage", "call_usage", "generation_span", "error_kinds", "n_samples", "n_probes",
              "has_xling", "has_images", "has_pairs")


def _prefetchable(fn: Callable[["RunReader"], Any]) -> Callable[["RunReader"], Any]:
    name = fn.__name__

    @functools.wraps(fn)
    def method(self: "RunReader") -> Any:
        if name in self._pre:
            return copy.copy(self._pre[name])  # lists and dicts copied, as a fresh query returns them
        return fn(self)
    return method


def _prefetch(main: "RunReader") -> None:
    try:
        with RunReader(main.path) as r:
            for name in PREFETCHED:
                main._pre[name] = getattr(RunReader, name).__wrapped__(r)
            if main._sizes is None:
                main._sizes = r.dataset_sizes()
            if main._judge_labels is None:
                main._judge_labels = r.judge_labels()
    except Exception as e:  # noqa: BLE001 - the main thread runs any query still missing itself
        log.debug("prefetching the run's small queries failed (%s); they run when asked", e)


class RunReader:
    """A read-only connection to one run's store (a run dir or a results.sqlite path)."""

    def __init__(self, run: str | Path):
        self.path = store_path(run)
        self.con = connect(self.path, readonly=True)
        try:
            self.version = store_version(self.con, self.path)
        except Exception:
            self.con.close()
            raise
        self.cols = Columns.for_version(self.version)
        self._sizes: list[DatasetSize] | None = None
        self._judge_labels: dict[str, set[str]] | None = None
        self._pre: dict[str, Any] = {}  # results of `prefetch`'s thread, by method name

    def close(self) -> None:
        self.con.close()

    def prefetch(self) -> threading.Thread:
        """Run the summary's small whole-table queries (PREFETCHED) on a thread with a connection of its
        own, so they overlap the main read of the store on another core: SQLite computes each aggregate
        without holding the GIL. This reader's methods then return those results; one asked before its
        result is in runs its query itself (the same answer: the store is not written meanwhile).
        Join the thread before closing the reader if its connection must be gone."""
        t = threading.Thread(target=_prefetch, args=(self,), name="babelsafe-reader-prefetch", daemon=True)
        t.start()
        return t

    def __enter__(self) -> "RunReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- run-level facts -----------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM meta"))

    def meta_value(self, key: str) -> Any:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return loads(row[0]) if row else None

    def spec(self) -> dict[str, Any]:
        """The run's spec as stored ({} when absent or unreadable)."""
        spec = self.meta_value("spec")
        return spec if isinstance(spec, dict) else {}

    def spec_judges(self) -> list[str]:
        return [j.get("name") for j in self.spec().get("judges", []) if isinstance(j, dict)]

    def components(self, exclude: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
        """kind -> name -> config (as stored: callers scrub before showing), without the kinds in `exclude`."""
        out: dict[str, dict[str, Any]] = {}
        marks = ",".join("?" * len(exclude))
        sql = ("SELECT kind, name, config FROM components" + (f" WHERE kind NOT IN ({marks})" if exclude else "")
               + " ORDER BY kind, name")
        for kind, name, config in self.con.execute(sql, exclude):
            out.setdefault(kind, {})[name] = loads(config)
        return out

    def component_counts(self, kinds: tuple[str, ...]) -> dict[str, int]:
        """kind -> number of components, for the kinds in `kinds` the store has."""
        marks = ",".join("?" * len(kinds))
        return dict(self.con.execute(f"SELECT kind, count(*) FROM components WHERE kind IN ({marks}) "
                                     "GROUP BY kind ORDER BY kind", kinds).fetchall()) if kinds else {}

    def dataset_sizes(self) -> list[DatasetSize]:
        if self._sizes is None:  # the summary asks for the sizes and, in several panels, the names
            self._sizes = [DatasetSize(*r) for r in self.con.execute(
                "SELECT dataset, count(*), count(DISTINCT language) FROM samples GROUP BY dataset ORDER BY dataset")]
        return list(self._sizes)

    def dataset_taxonomies(self) -> dict[str, str]:
        """dataset -> the category taxonomy it declared when the run was made (v2 stores)."""
        if not self.cols.has_datasets:
            return {}
        return {n: t for n, t in self.con.execute("SELECT name, taxonomy FROM datasets") if t}

    def datasets(self) -> list[str]:
        return [d.name for d in self.dataset_sizes()]  # one scan of the samples for every asker

    @_prefetchable
    def generation_span(self) -> tuple[float | None, float | None]:
        return tuple(self.con.execute("SELECT min(created), max(created) FROM generations").fetchone())  # type: ignore[return-value]

    @_prefetchable
    def target_usage(self) -> list[TargetUsage]:
        return [TargetUsage(*r) for r in self.con.execute(
            "SELECT target, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached), avg(latency_s) "
            "FROM generations GROUP BY target ORDER BY target")]

    @_prefetchable
    def call_usage(self) -> list[CallUsage]:
        return [CallUsage(*r) for r in self.con.execute(
            "SELECT component, purpose, count(*), sum(prompt_tokens), sum(completion_tokens) FROM calls "
            "GROUP BY 1, 2 ORDER BY 1, 2")]

    @_prefetchable
    def n_samples(self) -> int:
        return self.con.execute("SELECT count(*) FROM samples").fetchone()[0]

    @_prefetchable
    def n_probes(self) -> int:
        return self.con.execute("SELECT count(*) FROM probes").fetchone()[0]

    def several_languages(self) -> bool:
        """Do the probes use more than one language?"""
        return self.con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT language FROM probes LIMIT 2)").fetchone()[0] > 1

    def languages(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT DISTINCT language FROM probes")]

    @_prefetchable
    def error_kinds(self) -> dict[str, int]:
        """error kind -> generations that failed with it, most frequent first."""
        return dict(self.con.execute("SELECT coalesce(error_kind, 'unknown'), count(*) FROM generations "
                                     "WHERE outcome = 'error' GROUP BY 1 ORDER BY 2 DESC").fetchall())

    def targets(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT DISTINCT target FROM generations ORDER BY target")]

    def judges(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT DISTINCT judge FROM verdicts ORDER BY judge")]

    def judge_labels(self) -> dict[str, set[str]]:
        """judge -> every label it gave."""
        if self._judge_labels is None:  # panels (mcq, helpfulness) each ask
            out: dict[str, set[str]] = {}
            for j, label in self.con.execute("SELECT DISTINCT judge, label FROM verdicts"):
                out.setdefault(j, set()).add(label)
            self._judge_labels = out
        return {j: set(v) for j, v in self._judge_labels.items()}

    # -- streams -------------------------------------------------------------------------------
    def _batches(self, sql: str, params: Any = ()) -> Iterator[list[tuple]]:
        cur = self.con.execute(sql, params)
        while True:
            rows = cur.fetchmany(BATCH)
            if not rows:
                return
            yield rows

    def label_batches(self, ordered: bool = False) -> Iterator[list[tuple]]:
        """Every generation x every judge as LabelRow-ordered tuples, in batches. ordered: sorted by
        (target, judge, dataset, item_id, language, transform), so one prompt's rows are adjacent."""
        sql = f"""
        WITH j(judge) AS (SELECT DISTINCT judge FROM verdicts UNION ALL
                          SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM verdicts))
        SELECT g.target, j.judge, s.dataset, s.item_id, p.language, s.category, p.transform,
          lower(coalesce({self.cols.prompt_label}, '')),
          CASE WHEN g.outcome = 'error' THEN 'error' WHEN g.outcome = 'content_filter' THEN 'content_filter'
               WHEN v.label IS NULL THEN 'unjudged' ELSE v.label END, coalesce(g.cache_key, ''), g.probe_key
        FROM j CROSS JOIN generations g
        JOIN probes p ON p.probe_key = g.probe_key
        JOIN samples s ON s.sample_key = p.sample_key
        LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = j.judge
        """
        return self._batches(sql + (" ORDER BY 1, 2, 3, 4, 5, 7" if ordered else ""))

    def has_repeated_requests(self) -> bool:
        """Whether some target answered the very same request (one cache key) for several probes, e.g. a
        translation into bn from the en, bn and zh versions of a parallel item."""
        return self.con.execute(
            "SELECT 1 FROM generations WHERE coalesce(cache_key, '') != '' GROUP BY target, cache_key "
            "HAVING count(*) > 1 LIMIT 1").fetchone() is not None

    def pair_rows(self, judge: str | None) -> list[PairRow] | None:
        """Judged, answered probes that are one side of a pair; None when a v1 store cannot be read
        so (SQLite without JSON1)."""
        c = self.cols
        sql = f"""
        SELECT g.target, p.language, s.dataset, s.item_id, {c.pair_id}, {c.pair_role}, v.label
        FROM probes p JOIN samples s USING(sample_key)
        JOIN generations g ON g.probe_key = p.probe_key AND g.outcome != 'error'
        JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ?
        WHERE {c.pair_role} IS NOT NULL"""
        try:
            return [PairRow(*r) for r in self.con.execute(sql, (judge,))]
        except sqlite3.OperationalError:
            return None

    @_prefetchable
    def has_images(self) -> bool:
        """True when some probe showed the target an image (probes.meta.modality)."""
        try:
            return self.con.execute("SELECT 1 FROM probes WHERE json_extract(meta, '$.modality') = "
                                    "'image+text' LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:
            return False

    def modality_rows(self, judge: str | None) -> Iterator[ModalityRow]:
        """Every generation with `judge`'s label, the probe's modality, the sample's image context
        (MSSBench) and the verdict's scale level (VLSBench / MSSBench rubrics)."""
        sql = f"""
        SELECT g.target, s.dataset, p.language, coalesce(json_extract(p.meta, '$.modality'), 'text'),
          p.transform, lower(coalesce({self.cols.prompt_label}, '')),
          CASE WHEN g.outcome = 'error' THEN 'error' WHEN g.outcome = 'content_filter' THEN 'content_filter'
               WHEN v.label IS NULL THEN 'unjudged' ELSE v.label END,
          coalesce(json_extract(p.meta, '$.context'), json_extract(s.meta, '$.context')),
          json_extract(v.extra, '$.level')
        FROM generations g JOIN probes p ON p.probe_key = g.probe_key
        JOIN samples s ON s.sample_key = p.sample_key
        LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ?"""
        for batch in self._batches(sql, (judge,)):
            for row in batch:
                yield ModalityRow(*row[:8], int(row[8]) if isinstance(row[8], (int, float)) else None)
    def mcq_rows(self) -> list[MCQRow]:
        """Every judged answer whose verdict is a multiple-choice label (errors excluded)."""
        sql = """
        SELECT g.target, v.judge, p.language, s.category, s.dataset,
          coalesce(json_extract(s.meta, '$.item'), s.item_id), coalesce(json_extract(s.meta, '$.variant'),
          'original'), p.transform, v.label
        FROM verdicts v JOIN generations g ON g.probe_key = v.probe_key AND g.target = v.target
        JOIN probes p ON p.probe_key = v.probe_key JOIN samples s ON s.sample_key = p.sample_key
        WHERE g.outcome != 'error' AND v.label IN ('correct', 'incorrect', 'no_answer')"""
        try:
            return [MCQRow(*r) for r in self.con.execute(sql)]
        except sqlite3.OperationalError:  # SQLite without JSON1
            return []

    def helpful_judges(self) -> list[str]:
        """Judges whose declared (stored) or given labels are the helpfulness ones (rubric or answer-match):
        a judge that only failed is still one, so its judge errors are counted."""
        from ..labels import HELPFUL_VOCAB

        vocab = set(HELPFUL_VOCAB)
        found = {j for j, labels in self.judge_labels().items() if labels & vocab}
        for name, cfg in self.components().get("judge", {}).items():
            if isinstance(cfg, dict) and set(cfg.get("labels") or ()) & vocab:
                found.add(name)
        return sorted(found)

    def helpful_rows(self) -> list[HelpfulRow]:
        """Every verdict of a helpfulness judge on an answered benign prompt (generation errors and harmful
        prompts left out: helpfulness is measured where answering is the right thing to do)."""
        from ..labels import BENIGN_PROMPT

        judges = self.helpful_judges()
        if not judges:
            return []
        benign = sorted(BENIGN_PROMPT)
        sql = f"""
        SELECT g.target, v.judge, p.language, s.category, s.dataset,
          coalesce(json_extract(s.meta, '$.item'), s.item_id), p.transform, v.label, v.score
        FROM verdicts v JOIN generations g ON g.probe_key = v.probe_key AND g.target = v.target
        JOIN probes p ON p.probe_key = v.probe_key JOIN samples s ON s.sample_key = p.sample_key
        WHERE g.outcome != 'error' AND v.judge IN ({",".join("?" * len(judges))})
          AND lower(coalesce({self.cols.prompt_label}, '')) IN ({",".join("?" * len(benign))})"""
        try:
            return [HelpfulRow(*r) for r in self.con.execute(sql, [*judges, *benign])]
        except sqlite3.OperationalError:  # SQLite without JSON1
            return []
    def answer_language_counts(self, judge: str | None) -> list[tuple[str, str | None, bool, int]]:
        """(prompt language, answer language recorded by `judge`, whether the judge had no lexicon for the
        prompt language, count) over `judge`'s verdicts (errors, judge errors and unjudged left out)."""
        excluded = sorted(EXCLUDED)
        sql = f"""
        SELECT p.language, json_extract(v.extra, '$.answer_language'),
          json_extract(v.extra, '$.unsupported_language') IS NOT NULL, count(*)
        FROM verdicts v JOIN probes p ON p.probe_key = v.probe_key
        WHERE v.judge = ? AND v.label NOT IN ({",".join("?" * len(excluded))}) AND json_valid(v.extra)
        GROUP BY 1, 2, 3 ORDER BY 1, 2"""
        try:
            return [(lang, al, bool(un), n) for lang, al, un, n in self.con.execute(sql, (judge, *excluded))]
        except sqlite3.OperationalError:  # SQLite without JSON1
            return []

    @_prefetchable
    def has_xling(self) -> bool:
        """Does the run have samples of the cross-lingual consistency task (one scan of the samples,
        not the join xling_rows makes)?"""
        return self.con.execute(f"SELECT 1 FROM samples s WHERE {_XLING_SAMPLE} LIMIT 1").fetchone() is not None

    def has_xling_answers(self) -> bool:
        """Is there an answer (a generation) of the consistency task: is xling_rows() not empty?"""
        sql = ("SELECT 1 FROM probes p JOIN samples s ON s.sample_key = p.sample_key "
               "JOIN generations g ON g.probe_key = p.probe_key WHERE " + _XLING_SAMPLE + " LIMIT 1")
        return self.con.execute(sql).fetchone() is not None

    def xling_rows(self) -> list[XlingRow]:
        """Every answer of the consistency task with its consistency-judge verdict (if any), in a fixed order
        (target, language, dataset, item, probe), not the order answers were stored: concurrent runs store
        them as they complete, and the bootstrap CIs resample by position, so two runs of the same data
        must hand it the same sequence."""
        sql = """
        SELECT g.target, p.language, s.dataset, s.item_id, g.outcome, g.error_kind, g.error, v.judge, v.label,
          v.error, v.extra
        FROM generations g JOIN probes p ON p.probe_key = g.probe_key
        JOIN samples s ON s.sample_key = p.sample_key
        LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target
          AND (v.label IN ('consistent', 'inconsistent', 'reference') OR v.judge = 'consistency')
        WHERE """ + _XLING_SAMPLE + " ORDER BY g.target, p.language, s.dataset, s.item_id, p.probe_key, v.judge"
        return [XlingRow(*r[:10], json.loads(r[10]) if r[10] else None) for r in self.con.execute(sql)]

    @_prefetchable
    def has_pairs(self) -> bool:
        try:
            return self.con.execute(
                f"SELECT 1 FROM probes p WHERE {self.cols.pair_role} IS NOT NULL LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:
            return False

    def cosa_rows(self, judge: str | None) -> Iterator[CosaRow]:
        """Every answered generation (errors left out) with `judge`'s label and extra."""
        sql = (f"SELECT p.language, s.category, lower(coalesce({self.cols.prompt_label}, '')), "
               "CASE WHEN g.outcome = 'content_filter' THEN 'content_filter' ELSE v.label END, v.extra "
               "FROM generations g JOIN probes p ON p.probe_key = g.probe_key "
               "JOIN samples s ON s.sample_key = p.sample_key "
               "LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ? "
               "WHERE g.outcome != 'error'")
        for batch in self._batches(sql, (judge,)):
            for lang, cat, plabel, label, extra in batch:
                ex = loads(extra) if extra else None
                yield CosaRow(lang, cat, plabel, label, ex if isinstance(ex, dict) else None)

    def compare_rows(self, judge: str, roles: dict[str, str], pair_on: tuple[str, ...] = PAIR_FIELDS,
                     transforms: list[str] | None = None) -> Iterator[CompareRow]:
        """`judge`'s label per generation of the targets in `roles` (target -> role), sorted by key: the
        `pair_on` fields (sample = dataset + item_id, language, transform) then the role. `transforms`
        keeps only probes with those transform chains ("none" = the plain prompt)."""
        if not roles:
            return
        order = [c for f in pair_on for c in _PAIR_COLUMNS[f]] + ["role", "transform", "language"]
        where = ""
        params: list[Any] = []
        for t, r in roles.items():  # the CASE pairs come first in the text, then the judge
            params += [t, r]
        params.append(judge)
        if transforms:
            where = f" AND transform IN ({','.join('?' for _ in transforms)})"
            params += list(transforms)
        sql = f"""
        SELECT dataset, item_id, language, transform, CASE target {" ".join("WHEN ? THEN ?" for _ in roles)}
          END AS role, plabel, lab FROM (
          SELECT CAST(s.dataset AS TEXT) AS dataset, CAST(s.item_id AS TEXT) AS item_id,
            p.language AS language, coalesce(nullif(p.transform, ''), 'none') AS transform, g.target AS target,
            lower(coalesce({self.cols.prompt_label}, '')) AS plabel,
            CASE WHEN g.outcome = 'error' THEN 'error' WHEN g.outcome = 'content_filter' THEN 'content_filter'
                 WHEN v.label IS NULL THEN 'unjudged' ELSE v.label END AS lab
          FROM generations g JOIN probes p ON p.probe_key = g.probe_key
          JOIN samples s ON s.sample_key = p.sample_key
          LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ?)
        WHERE role IS NOT NULL{where} ORDER BY {", ".join(order)}
        """
        idx = {"dataset": 0, "item_id": 1, "language": 2, "transform": 3}
        cols = [idx[c] for f in pair_on for c in _PAIR_COLUMNS[f]]
        for batch in self._batches(sql, params):
            for row in batch:
                key = tuple(str(row[i]) for i in cols) + (str(row[4]),)
                yield CompareRow(key, row[5], row[6], str(row[3]), str(row[2]))

    def transforms(self) -> list[str]:
        """The transform chains of the run's probes ("none" = the plain prompt)."""
        return [r[0] for r in self.con.execute(
            "SELECT DISTINCT coalesce(nullif(transform, ''), 'none') FROM probes ORDER BY 1")]

    def candidate_rows(self, judge: str) -> list[CandidateRow]:
        """Answered generations (errors left out) with `judge`'s label, ordered by dataset, language,
        item and target."""
        rows = self.con.execute(
            f"SELECT p.messages, p.language, s.category, s.dataset, s.item_id, {self.cols.prompt_label}, "
            "g.target, g.text, g.decoded, g.outcome, v.label FROM generations g "
            "JOIN probes p ON p.probe_key = g.probe_key JOIN samples s ON s.sample_key = p.sample_key "
            "LEFT JOIN verdicts v ON v.probe_key = g.probe_key AND v.target = g.target AND v.judge = ? "
            "WHERE g.outcome != 'error' ORDER BY s.dataset, s.language, s.item_id, g.target", (judge,)).fetchall()
        return [CandidateRow(json.loads(r[0]), *r[1:]) for r in rows]

    # -- exports -------------------------------------------------------------------------------
    def export_query(self, judges: list[str], tiers: dict[str, str], primary: int | None) -> ExportQuery:
        """One row per generation: the report exports' columns (reporting.columns.BASE_COLS), one
        label/score pair per judge, then three helper columns: the request (cache key, for the summary
        when it reads these rows) and, for the examples sampler, the primary label (or outcome) and a
        hash of the row."""
        cols = "".join(f", v{i}.label, v{i}.score" for i in range(len(judges)))
        joins = " ".join(
            f"LEFT JOIN verdicts v{i} ON v{i}.probe_key = g.probe_key AND v{i}.target = g.target "
            f"AND v{i}.judge = ?" for i in range(len(judges)))
        params: list[Any] = []
        if tiers:
            tier_sql = "CASE p.language " + " ".join("WHEN ? THEN ?" for _ in tiers) + " ELSE 'unknown' END"
            for code, t in tiers.items():
                params += [code, t]
        else:
            tier_sql = "'unknown'"
        plabel = f"coalesce(v{primary}.label, 'unjudged')" if primary is not None else "'unjudged'"
        sql = (
            "SELECT s.dataset, s.item_id, s.language, p.language, " + tier_sql + ", s.category, "
            f"{self.cols.prompt_label}, p.transform, g.target, "
            "g.outcome, g.finish_reason, g.error_kind, g.prompt_tokens, g.completion_tokens, g.latency_s, "
            "g.cached, s.prompt, CASE WHEN p.transform = 'none' OR NOT json_valid(p.messages) THEN NULL "
            "ELSE json_extract(p.messages, '$[#-1].content') END, g.text, g.decoded, g.probe_key" + cols +
            f", coalesce(g.cache_key, ''), CASE WHEN g.outcome != 'ok' THEN g.outcome ELSE {plabel} END, "
            "(g.rowid * 2654435761) % 4294967291"
            " FROM generations g JOIN probes p ON p.probe_key = g.probe_key "
            "JOIN samples s ON s.sample_key = p.sample_key " + joins)
        return ExportQuery(sql, params + list(judges))

    def rowid_range(self) -> tuple[int | None, int | None]:
        """The generations' rowid range (export helpers split it)."""
        return tuple(self.con.execute("SELECT min(rowid), max(rowid) FROM generations").fetchone())  # type: ignore[return-value]

    def export_batches(self, q: ExportQuery, lo: int | None = None, hi: int | None = None,
                       raw_text: bool = False, size: int = 50_000) -> Iterator[list[tuple]]:
        """Rows of an export query (generations with rowid in [lo, hi], all when None). raw_text: text
        columns as UTF-8 bytes (no decode/re-encode on the way into Arrow)."""
        sql, params = q
        if lo is not None:
            sql, params = sql + " WHERE g.rowid BETWEEN ? AND ?", params + [lo, hi]
        if raw_text:
            self.con.text_factory = bytes
        cur = self.con.execute(sql, params)
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield rows

    def unsafe_prompts(self, judge: str | None = None) -> list[UnsafePrompt]:
        """Each harmful prompt with an unsafe / compliance verdict on an answered generation (by `judge`,
        or any judge), once per (dataset, item, language), in a stable order."""
        from ..labels import COMPLIANCE, UNSAFE

        labels = sorted(UNSAFE | COMPLIANCE)
        marks = ",".join("?" * len(labels))
        sql = f"""
        SELECT s.dataset, s.item_id, s.language, s.category, s.prompt, min(v.judge), min(v.label)
        FROM verdicts v JOIN generations g ON g.probe_key = v.probe_key AND g.target = v.target
        JOIN probes p ON p.probe_key = v.probe_key JOIN samples s ON s.sample_key = p.sample_key
        WHERE g.outcome NOT IN ('error', 'content_filter') AND v.label IN ({marks})
          AND lower(coalesce({self.cols.prompt_label}, '')) NOT IN ('benign', 'safe', 'harmless')
          AND (? IS NULL OR v.judge = ?)
        GROUP BY s.dataset, s.item_id, s.language ORDER BY s.dataset, s.item_id, s.language"""
        return [UnsafePrompt(*r) for r in self.con.execute(sql, (*labels, judge, judge))]

    def verdict_detail(self, probe_key: str, target: str, judge: str) -> tuple[str | None, str | None, str | None] | None:
        """(rationale, extra JSON, error) of one verdict."""
        return self.con.execute("SELECT rationale, extra, error FROM verdicts WHERE probe_key = ? AND target = ? "
                                "AND judge = ?", (probe_key, target, judge)).fetchone()

    def verdict_details(self, probe_keys: list[str], judge: str) -> dict[tuple[str, str], tuple]:
        """(probe_key, target) -> (rationale, extra JSON, error) of `judge`'s verdicts on these probes
        (what verdict_detail gives one by one, in a few queries)."""
        out: dict[tuple[str, str], tuple] = {}
        for chunk in _chunks(sorted(set(probe_keys))):
            for pk, target, *rest in self.con.execute(
                    "SELECT probe_key, target, rationale, extra, error FROM verdicts WHERE judge = ? AND "
                    f"probe_key IN ({','.join('?' * len(chunk))})", (judge, *chunk)):
                out[(pk, target)] = tuple(rest)
        return out

    def probe_details(self, probe_keys: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """probe_key -> (meta JSON, chain JSON) (what probe_detail gives one by one, in a few queries)."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for chunk in _chunks(sorted(set(probe_keys))):
            for pk, meta, chain in self.con.execute(
                    f"SELECT probe_key, meta, chain FROM probes WHERE probe_key IN ({','.join('?' * len(chunk))})",
                    chunk):
                out[pk] = (meta, chain)
        return out

    def probe_messages(self, probe_key: str) -> list[dict[str, Any]]:
        """The messages of one probe (as sent, with image references rather than image bytes)."""
        row = self.con.execute("SELECT messages FROM probes WHERE probe_key = ?", (probe_key,)).fetchone()
        msgs = loads(row[0]) if row else None
        return msgs if isinstance(msgs, list) else []

    # -- agent runs (babelsafe.agents) ---------------------------------------------------------
    def has_agent_traces(self) -> bool:
        return self.con.execute("SELECT 1 FROM components WHERE kind = ? LIMIT 1",
                                (AGENT_TRACE_KIND,)).fetchone() is not None

    def n_agent_traces(self) -> int:
        return self.con.execute("SELECT count(*) FROM components WHERE kind = ?", (AGENT_TRACE_KIND,)).fetchone()[0]

    def agent_traces(self, limit: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(name, trace record) of the agent traces, ordered by name; name = "probe_key|target"."""
        sql = "SELECT name, config FROM components WHERE kind = ? ORDER BY name"
        params: tuple = (AGENT_TRACE_KIND,)
        if limit is not None:
            sql, params = sql + " LIMIT ?", params + (limit,)
        for name, cfg in self.con.execute(sql, params):
            yield name, json.loads(cfg)

    def agent_generation_errors(self) -> int:
        """Agent scenarios whose generation did not finish (outcome other than ok)."""
        return self.con.execute(
            "SELECT count(*) FROM generations g JOIN probes p ON p.probe_key = g.probe_key JOIN samples s "
            f"ON s.sample_key = p.sample_key WHERE g.outcome != 'ok' AND {_AGENT_SAMPLE}").fetchone()[0]

    def agent_verdict_rows(self) -> list[AgentVerdictRow]:
        """Every verdict on an answered (outcome ok) agent scenario."""
        return [AgentVerdictRow(*r) for r in self.con.execute(
            "SELECT v.judge, v.label, v.target, s.language, s.category, s.item_id, s.meta, p.transform "
            "FROM verdicts v JOIN generations g ON g.probe_key = v.probe_key AND g.target = v.target "
            "JOIN probes p ON p.probe_key = v.probe_key JOIN samples s ON s.sample_key = p.sample_key "
            f"WHERE g.outcome = 'ok' AND {_AGENT_SAMPLE}")]

    def verdict_labels_of(self, judge: str) -> dict[tuple[str, str], tuple[str, str]]:
        """(probe_key, target) -> (label, rationale or '') of every verdict `judge` gave."""
        return {(pk, tgt): (label, why or "") for pk, tgt, label, why in self.con.execute(
            "SELECT probe_key, target, label, rationale FROM verdicts WHERE judge = ?", (judge,))}

    def probe_detail(self, probe_key: str) -> tuple[str | None, str | None] | None:
        """(meta JSON, chain JSON) of one probe."""
        return self.con.execute("SELECT meta, chain FROM probes WHERE probe_key = ?", (probe_key,)).fetchone()
