"""Metrics with honest error bars, computed from a run's store.

    summarize(run_dir)          -> summary.json's content (metrics/summary.py)
    compare(run_a, run_b)       -> paired comparison of two runs (metrics/compare.py)

stats.py holds the statistics, tally.py the rate tables, items.py the per-prompt cross-lingual
analysis, panels.py the registered panels (CoSA, PCJailbreak, SORRY-Bench, ...), runinfo.py what the
run was. Label semantics live in babelsafe.labels; terminal tables in babelsafe.cli.render.
"""
from __future__ import annotations

from .panels import PANELS, Panel, RunView, cosa_item, panel, pcjailbreak_gap
from . import modality as _modality  # noqa: F401  (registers the image + text panels)
from . import mcq as _mcq  # noqa: F401  (registers the mcq and contamination panels)
from . import helpful as _helpful  # noqa: F401  (registers the helpfulness panel)
from . import xling as _xling  # noqa: F401  (registers the cross-lingual answer consistency panel)
from . import scoring as _scoring  # noqa: F401  (registers the scoring panel: benchmarks vs their papers)
from . import answer_langs as _answer_langs  # noqa: F401  (registers the answer-language panel)
from .runinfo import run_metadata, token_usage
from .stats import (Z95, bootstrap_indices, cohen_kappa, cosa_score, fleiss_kappa, fleiss_kappa_weighted,
                    mcnemar_exact, paired_difference, percentile_interval, proportion, wilson)
from .summary import DEFINITIONS, Summary, summarize
from .tally import Tally, attack_of, tier_of

__all__ = ["summarize", "Summary", "DEFINITIONS", "PANELS", "Panel", "RunView", "panel", "cosa_item",
           "pcjailbreak_gap", "run_metadata", "token_usage", "Z95", "wilson", "proportion", "mcnemar_exact",
           "paired_difference", "fleiss_kappa", "fleiss_kappa_weighted", "cosa_score", "cohen_kappa",
           "bootstrap_indices", "percentile_interval", "Tally", "attack_of", "tier_of"]
