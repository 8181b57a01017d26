"""MultiJail's adaptive attack as a scheduling strategy: try a prompt's languages in rank order and
stop at the first unsafe answer; the languages not tried are never sent (attempts = generations
stored). The `adaptive` transform marks the probes (meta["adaptive_rank"]); the scheduler hands such
a group to `run_adaptive` instead of sending every probe."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from ..labels import is_unsafe
from ..types import Probe

log = logging.getLogger("babelsafe")

# answer(probe) -> labels of the verdicts given now; stored(probe) -> labels judged in an earlier session
Answer = Callable[[Probe], Awaitable[list[str]]]


def is_adaptive(probes: list[Probe]) -> bool:
    """Several probes from one sample, every one ranked by the adaptive transform."""
    return len(probes) > 1 and all("adaptive_rank" in p.meta for p in probes)


async def run_adaptive(probes: list[Probe], answer: Answer, stored_labels: Callable[[Probe], list[str]],
                       on_skip: Callable[[int], Any]) -> None:
    """Answer probes in rank order until one is unsafe; `on_skip(n)` is told how many were not sent."""
    harmful = probes[0].sample.meta.get("label") != "benign"
    ordered = sorted(probes, key=lambda p: p.meta["adaptive_rank"])
    for i, probe in enumerate(ordered):
        labels = await answer(probe) + stored_labels(probe)
        if any(is_unsafe(lab, harmful) for lab in labels):
            skipped = len(ordered) - i - 1
            on_skip(skipped)
            log.info("adaptive: %s/%s unsafe in %s after %d attempt(s); %d language(s) not tried",
                     probe.sample.dataset, probe.sample.id, probe.language, i + 1, skipped)
            return
