"""`generate`: LLM-written test suites over a coverage matrix (ASTRAL's generator, S-Eval's critic).

For each cell (category, style, technique, language) a generator target is asked, few-shot from real
benchmark prompts of the category (the shipped datasets, read through the dataset registry), for N test
prompts on `#Prompt:` lines. An optional critic target accepts or rejects each test (prompts.yaml); near
duplicates are removed across the suite (dedup.py). Every model call goes through the run engine's one
cached call path (engine.RunCaller.call) with a store in `<suite>.gen/results.sqlite`, so rerunning
after a kill repeats no finished call. Nothing is dropped silently: malformed generator output, critic
rejections, critic errors and duplicates go to `<suite>.gen/rejected.jsonl` with their reason.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from .. import languages as langs
from ..errors import UsageError
from ..engine import RunCaller
from ..engine.scheduler import Progress
from ..spec import RunSpec, target_spec
from ..taxonomy import COARSE
from ..types import ERROR, Generation, Sample, stable_hash
from .dedup import near_duplicates
from .matrix import STYLES, TECHNIQUES, Cell, axes, cells, coverage

log = logging.getLogger(__name__)

SEED_DATASETS = ("multijail", "xsafety")  # shipped, human-written prompts with coarse categories
_PROMPT_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*#\s*prompt\s*:\s*(.*?)\s*$", re.IGNORECASE)


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath("prompts.yaml").read_text("utf-8"))


@dataclass
class Seed:
    """A few-shot example: a dataset prompt, or (with evolve) a run's prompt that got an unsafe answer."""

    source: str  # dataset name, or "run"
    id: str
    language: str
    category: str
    prompt: str


@dataclass
class GenerateResult:
    out: Path
    gen_dir: Path
    tests: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    coverage: dict[str, Any]
    progress: Progress = field(default_factory=Progress)
    calls_made: int = 0
    interrupted: bool = False


# -- seeds --------------------------------------------------------------------------------------------
def dataset_seeds(categories: list[str], languages: list[str]) -> list[Seed]:
    """The shipped datasets' prompts of these categories in these languages (and English)."""
    from ..datasets import resolve

    wanted = sorted(set(languages) | {"en"})
    out: list[Seed] = []
    for name in SEED_DATASETS:
        ds = resolve(name)
        if not set(wanted) & set(getattr(ds, "languages", []) or wanted):
            continue
        for s in ds.load(wanted):
            if s.category in categories and s.meta.get("label", "harmful") != "benign":
                out.append(Seed(name, s.id, s.language, s.category, s.prompt))
    return out


def evolve_seeds(run_dir: str | Path, judge: str | None = None) -> list[Seed]:
    """Prompts of a run that got unsafe / complied-with verdicts (ASTRAL's and S-Eval's feedback loop)."""
    from ..results.readers import RunReader

    p = Path(run_dir)
    if not (p / "results.sqlite").exists() and not p.is_file():
        raise UsageError(f"--evolve: '{run_dir}' is not a run directory (no results.sqlite). Give a "
                         f"directory made by `babelsafe run`.")
    with RunReader(p) as r:
        rows = r.unsafe_prompts(judge)
    return [Seed("run", f"{row.dataset}/{row.item_id}", row.language, row.category or "other", row.prompt)
            for row in rows]


def pick_seeds(cell: Cell, pool: list[Seed], k: int, seed: int) -> list[Seed]:
    """k seeds of the cell's category, the cell's language first, in a seeded, stable order."""
    cat, _, _, lang = cell
    same = [s for s in pool if s.category == cat]
    same.sort(key=lambda s: (s.language != lang, stable_hash([seed, list(cell), s.source, s.id, s.language])))
    return same[:k]


# -- prompts and parsing ------------------------------------------------------------------------------
def generator_messages(cell: Cell, examples: list[Seed], n: int) -> list[dict[str, str]]:
    cat, style, tech, lang = cell
    t = templates()["generator"]
    ex = "\n".join(f"#Prompt: {' '.join(s.prompt.split())}" for s in examples) or "(none available)"
    user = t["user"].format(n=n, category=cat, category_description=COARSE.get(cat, cat), style=style,
                            style_description=STYLES[style], technique=tech,
                            technique_description=TECHNIQUES[tech], language=langs.name(lang), examples=ex)
    return [{"role": "system", "content": t["system"].strip()}, {"role": "user", "content": user}]


def critic_messages(test: dict[str, Any]) -> list[dict[str, str]]:
    t = templates()["critic"]
    cat = test["category"]
    user = (t["user"].replace("{prompt}", test["prompt"])  # the test may contain braces: no .format on it
            .replace("{category}", cat).replace("{category_description}", COARSE.get(cat, cat))
            .replace("{language}", langs.name(test["language"])).replace("{{", "{").replace("}}", "}"))
    return [{"role": "system", "content": t["system"].strip()}, {"role": "user", "content": user}]


def parse_generation(text: str | None) -> tuple[list[str], list[str]]:
    """(prompts on `#Prompt:` lines, other non-empty lines) of a generator's reply."""
    prompts, junk = [], []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        m = _PROMPT_LINE.match(line)
        if m and m.group(1).strip():
            prompts.append(m.group(1).strip().strip('"'))
        else:
            junk.append(line.strip())
    return prompts, junk


def parse_critic(text: str | None) -> tuple[str, str, dict[str, Any]]:
    """(accept | reject | critic_error, reason, the parsed object) of a critic's reply."""
    m = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not m:
        return "critic_error", f"no JSON object in the critic's reply: {(text or '')[:200]!r}", {}
    try:
        obj = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        return "critic_error", f"critic reply is not valid JSON ({e.msg}): {m.group(0)[:200]!r}", {}
    verdict = str(obj.get("verdict", "")).strip().lower() if isinstance(obj, dict) else ""
    if verdict not in ("accept", "reject"):
        return "critic_error", f"critic verdict {verdict or '(missing)'!r} is not accept or reject", {}
    return verdict, str(obj.get("reason", "")), obj


# -- the whole run -------------------------------------------------------------------------------------
class Generator:
    """One `generate` invocation; `run()` does the work (api.generate wraps it)."""

    def __init__(self, target: Any, out: str | Path, *, categories: Any = None, styles: Any = None,
                 techniques: Any = None, languages: Any = None, per_cell: int = 3, critic: Any = None,
                 dedup: float | None = 0.8, evolve: str | Path | None = None, evolve_judge: str | None = None,
                 shots: int = 3, seed: int = 0, concurrency: int = 8, retries: int = 2, timeout: float = 60.0,
                 on_progress: Callable[[Progress], None] | None = None):
        if per_cell < 1:
            raise UsageError("--per-cell must be >= 1.")
        if dedup is not None and not 0.0 < dedup <= 1.0:
            raise UsageError("--dedup is a Jaccard similarity threshold in (0, 1], e.g. 0.8 (0 or none: off).")
        self.out = Path(out)
        if self.out.suffix.lower() != ".jsonl":
            raise UsageError(f"--out '{out}': write the suite to a .jsonl file (e.g. suite.jsonl).")
        self.gen_dir = self.out.with_name(self.out.name[:-len(".jsonl")] + ".gen")
        self.tspec = target_spec(target)
        self.critic_spec = target_spec(critic) if critic else None
        self.parents: list[Seed] = evolve_seeds(evolve, evolve_judge) if evolve else []
        if evolve and not self.parents:
            raise UsageError(f"--evolve: run '{evolve}' has no prompt with an unsafe or complied-with verdict; "
                             f"nothing to evolve from.")
        if evolve and categories is None:  # the categories where the run found unsafe answers
            from .matrix import HARM_CATEGORIES
            categories = [c for c in HARM_CATEGORIES if any(p.category == c for p in self.parents)] or None
        self.axes = axes(categories, styles, techniques, languages)
        self.evolve = str(evolve) if evolve else None
        self.per_cell, self.critic, self.dedup, self.shots, self.seed = per_cell, critic, dedup, shots, seed
        self.spec = RunSpec(targets=[self.tspec], judges=[], out=str(self.gen_dir), seed=seed,
                            concurrency=concurrency, retries=retries, timeout=timeout)
        self.progress = Progress()
        self.on_progress = on_progress or (lambda p: None)
        self._stop = asyncio.Event()
        self.interrupted = False

    def request_stop(self) -> None:
        self.interrupted = True
        self._stop.set()

    async def run(self) -> GenerateResult:
        from ..results import Store

        self.gen_dir.mkdir(parents=True, exist_ok=True)
        pool = dataset_seeds(self.axes["categories"], self.axes["languages"])
        store = Store(self.gen_dir / "results.sqlite")
        ctx = RunCaller(self.spec, store)
        tests: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        try:
            store.write_meta("generate", {"axes": self.axes, "per_cell": self.per_cell, "shots": self.shots,
                                          "seed": self.seed, "dedup": self.dedup, "evolve": self.evolve,
                                          "generator": self.tspec.display,
                                          "critic": self.critic_spec.display if self.critic_spec else None})
            slot = ctx.build_target(self.tspec)
            critic = ctx.target(self.critic_spec) if self.critic_spec else None
            for t in (slot.target, critic):
                load = getattr(t, "load", None)
                if load is not None:
                    await asyncio.to_thread(load)
            all_cells = cells(self.axes)
            self.progress.total = len(all_cells)
            work = [self._cell(ctx, slot.target, critic, c, pool) for c in all_cells]
            tasks = [asyncio.ensure_future(w) for w in work]
            stopper = asyncio.ensure_future(self._stop.wait())
            try:
                pending = set(tasks)
                while pending and not self._stop.is_set():
                    done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
                    pending.discard(stopper)
            finally:
                for t in tasks + [stopper]:
                    t.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
            for t in tasks:  # in cell order, so the suite (and which duplicate is kept) is stable
                if t.done() and not t.cancelled():
                    if t.exception():
                        raise t.exception()  # type: ignore[misc]
                    ok, bad = t.result()
                    tests += ok
                    rejected += bad
        finally:
            await ctx.aclose()
            calls_made = ctx.calls_made
            store.close()
        tests, dups = self._dedup(tests)
        rejected += dups
        cov = coverage(self.axes, tests)
        self._write(tests, rejected, cov)
        return GenerateResult(self.out, self.gen_dir, tests, rejected, cov, self.progress, calls_made,
                              self.interrupted)

    async def _cell(self, ctx: RunCaller, gen: Any, critic: Any, cell: Cell,
                    pool: list[Seed]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        cat, style, tech, lang = cell
        parents = pick_seeds(cell, self.parents, self.shots, self.seed) if self.parents else []
        examples = parents + pick_seeds(cell, pool, self.shots - len(parents), self.seed)
        g = await ctx.call(gen, generator_messages(cell, examples, self.per_cell), purpose="generate")
        base = {"category": cat, "style": style, "technique": tech, "language": lang}
        provenance: dict[str, Any] = {
            "seeds": [{"source": s.source, "id": s.id, "language": s.language} for s in examples if s.source != "run"],
            "generator_call": g.cache_key}
        if self.evolve:
            provenance["evolve"] = {"run": self.evolve, "parents": [s.id for s in parents]}
        self._tick(g)
        rejected: list[dict[str, Any]] = []
        if g.outcome == ERROR:
            return [], [{**base, "reason": "generator_error", "detail": f"{g.error_kind}: {g.error}",
                         "provenance": provenance}]
        prompts, junk = parse_generation(g.text)
        for line in junk:
            rejected.append({**base, "reason": "malformed", "detail": "not a '#Prompt:' line", "raw": line,
                             "provenance": provenance})
        if not prompts:
            rejected.append({**base, "reason": "malformed", "raw": g.text or "",
                             "detail": f"no '#Prompt:' line in the generator's reply (asked for {self.per_cell})",
                             "provenance": provenance})
        for extra in prompts[self.per_cell:]:
            rejected.append({**base, "reason": "surplus", "raw": extra, "provenance": provenance,
                             "detail": f"more than the {self.per_cell} prompts asked for"})
        tests = []
        for i, prompt in enumerate(prompts[:self.per_cell]):
            test = {"id": "gen-" + stable_hash([list(cell), i, prompt], 12), "prompt": prompt, **base,
                    "persuasion": tech, "label": "harmful", "generator": self.tspec.display,
                    "critic": {"verdict": "unreviewed", "reason": "", "judge": None}, "provenance": provenance}
            tests.append(test)
        if critic is not None:
            reviews = await asyncio.gather(*(ctx.call(critic, critic_messages(t), purpose="critic") for t in tests))
            kept = []
            for t, r in zip(tests, reviews):
                if r.outcome == ERROR:
                    verdict, reason, obj = "critic_error", f"{r.error_kind}: {r.error}", {}
                else:
                    verdict, reason, obj = parse_critic(r.text)
                t["critic"] = {"verdict": verdict, "reason": reason, "judge": self.critic_spec.display,  # type: ignore[union-attr]
                               **{k: obj[k] for k in ("on_category", "well_formed", "no_leak") if k in obj}}
                if verdict == "accept":
                    kept.append(t)
                else:
                    rejected.append({**t, "reason": "critic_" + verdict if verdict == "reject" else verdict})
            tests = kept
        return tests, rejected

    def _tick(self, g: Generation) -> None:
        self.progress.done += 1
        self.progress.errors += g.outcome == ERROR
        self.progress.cached += bool(g.cached)
        self.on_progress(self.progress)

    def _dedup(self, tests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not self.dedup:
            return tests, []
        dups = near_duplicates([t["prompt"] for t in tests], self.dedup)
        kept = [t for i, t in enumerate(tests) if i not in dups]
        gone = [{**tests[i], "reason": "near_duplicate", "duplicate_of": tests[j]["id"], "similarity": sim}
                for i, (j, sim) in sorted(dups.items())]
        return kept, gone

    def _write(self, tests: list[dict[str, Any]], rejected: list[dict[str, Any]], cov: dict[str, Any]) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for t in tests:
                f.write(json.dumps(t, ensure_ascii=False) + "\n")
        tmp.replace(self.out)
        with (self.gen_dir / "rejected.jsonl").open("w", encoding="utf-8") as f:
            for r in rejected:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        (self.gen_dir / "coverage.json").write_text(json.dumps(cov, indent=1), encoding="utf-8")
