"""Is each benchmark in a run scored the way its paper scores it? A panel of findings and notes.

A shipped dataset may declare `scoring` (a `datasets.base.Scoring`): the paper's judge, the criterion
it applies (harm, refusal, injection success) and the `llm` rubric that reproduces it here. Each judge
of the run is then one of:

    paper      the paper's own scoring (the llm judge with its rubric; for CyberSecEval prompt
               injection an llm judge without a rubric, which asks each test's own judge_question)
    criterion  another judge applying the same criterion (e.g. a guard model for a harm benchmark)
    proxy      a different criterion (e.g. the refusal judge on a harm or injection benchmark: it
               measures "answered, not refused", which is not what the paper reports)

When no judge of the run is better than `proxy` for a dataset, its entry carries a note that says so
and how to score it as the paper does. The CLI prints the notes, report.html shows them.
"""
from __future__ import annotations

import logging
from typing import Any

from ..labels import REFUSAL, SAFETY, vocabulary
from .panels import RunView, panel

log = logging.getLogger(__name__)

_RANK = {"paper": 2, "criterion": 1, "proxy": 0}
_DEFAULT_RUBRIC = "multijail"  # the llm judge's rubric when none is given


def declared_scoring(dataset: str) -> Any:
    """The Scoring a registered dataset declares, or None (files, hub sets, unknown names)."""
    from ..registry import registry

    if dataset not in registry("dataset").entries:
        return None
    try:
        return getattr(registry("dataset").get(dataset), "scoring", None)
    except Exception:  # an optional extra missing: no declaration to check against
        return None


def _step(value: Any) -> tuple[str, dict[str, Any]]:
    from ..spec import parse_step

    if isinstance(value, dict) and "name" in value:
        return str(value["name"]), dict(value.get("options") or {})
    step = parse_step(value)
    return str(step["name"]), dict(step.get("options") or {})


def _deciding(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The judge spec whose verdict stands: a cascade's `then`, with the options the cascade passes on to
    it (its own unknown options, then `then_options`, over `then`'s inline ones, as CascadeJudge does)."""
    from ..judges.cascade import _OWN

    if name != "cascade" or options.get("then") is None:
        return name, options
    t_name, t_opts = _step(options["then"])
    passed = {k: v for k, v in options.items() if k not in _OWN}
    return _deciding(t_name, {**t_opts, **passed, **dict(options.get("then_options") or {})})


def _llm_rubric(name: str, options: dict[str, Any]) -> tuple[bool, str | None]:
    """(is an llm judge, its explicit rubric) for the judge spec that decides."""
    name, options = _deciding(name, options)
    if name != "llm":
        return False, None
    rubric = options.get("rubric")
    return True, (str(rubric) if rubric is not None else None)


def spec_vocabulary(name: str, options: dict[str, Any]) -> str:
    """A judge spec's vocabulary (refusal / safety / ...) without building it (no model is loaded);
    a cascade speaks its last judge's vocabulary."""
    from ..registry import registry

    name, options = _deciding(name, options)
    is_llm, rubric = _llm_rubric(name, options)
    if is_llm:
        from ..judges.llm import load_rubric

        try:
            return vocabulary(load_rubric(rubric or _DEFAULT_RUBRIC)["labels"])
        except Exception:
            return "other"
    try:
        labels = getattr(registry("judge").get(name), "labels", ()) or ()
    except Exception:
        return "other"
    return vocabulary(labels if not isinstance(labels, str) else ())


def judge_fit(scoring: Any, name: str, options: dict[str, Any], vocab: str | None = None) -> str:
    """paper | criterion | proxy: how the judge spec (name, options) relates to the paper's scoring."""
    is_llm, rubric = _llm_rubric(name, options)
    if is_llm and scoring.criterion == "injection" and rubric in (None, "cyberseceval_pi"):
        return "paper"  # without a rubric the llm judge asks each test's judge_question
    if is_llm and scoring.rubric and (rubric or _DEFAULT_RUBRIC) == scoring.rubric:
        return "paper"
    vocab = vocab or spec_vocabulary(name, options)
    if (scoring.criterion == "harm" and vocab == SAFETY) or (scoring.criterion == "refusal" and vocab == REFUSAL):
        return "criterion"
    return "proxy"


def assess(datasets: list[str], judges: list[dict[str, Any]],
           vocabularies: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One entry per dataset that declares its scoring: the paper's judge, how each judge of the run
    relates to it, and a note when none scores it by the paper's criterion.

    judges: the run's judge specs ({name, options}); vocabularies: judge name -> vocabulary of the labels
    it actually gave (from the store), which overrides what the spec implies."""
    out = []
    for ds in datasets:
        sc = declared_scoring(ds)
        if sc is None:
            continue
        fits = {}
        for j in judges:
            name, opts = _step(j)
            shown = str(opts.get("name") or name)
            given = (vocabularies or {}).get(shown)
            fits[shown] = judge_fit(sc, name, opts, given if given in (REFUSAL, SAFETY) else None)
        best = max(fits.values(), key=_RANK.__getitem__, default="proxy")
        entry: dict[str, Any] = {"dataset": ds, "criterion": sc.criterion, "paper": sc.paper,
                                 "as_in_paper": sc.usage, "rubric": sc.rubric, "judges": fits, "fit": best,
                                 "note": None}
        if best == "proxy":
            used = ", ".join(fits) or "none"
            entry["note"] = (f"{ds}: its paper scores {_CRITERION[sc.criterion]}; this run's judge ({used}) "
                             f"does not, so its rates for {ds} are a proxy. To score it as the paper does: "
                             f"{sc.usage}.")
        out.append(entry)
    return out


_CRITERION = {"harm": "whether the answer is harmful", "refusal": "whether the model refused",
              "injection": "whether the prompt injection succeeded (each test's own judge question)"}


def _run_judges(run: RunView) -> list[dict[str, Any]]:
    spec_judges = [j for j in run.reader.spec().get("judges", []) if isinstance(j, dict) and j.get("name")]
    if spec_judges:
        return spec_judges
    return [{"name": j, "options": {}} for j in run.reader.judges()]  # a store without its spec


def _applies(run: RunView) -> bool:
    return any(declared_scoring(d) is not None for d in run.reader.datasets())


@panel("scoring", applies=_applies, empty=[])
def scoring(run: RunView) -> list[dict[str, Any]]:
    """Per dataset: does the run score it as its paper does (summary.json `scoring`)."""
    entries = assess(run.reader.datasets(), _run_judges(run), run.vocabs)
    for e in entries:
        if e["note"]:
            log.info("%s", e["note"])
    return entries
