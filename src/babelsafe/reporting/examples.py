"""The report's example records: the sampled export rows made readable (labels of every judge, the
primary judge's rationale, back-translations, capped texts, image thumbnails)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..labels import is_benign_prompt, is_refusal, verdict_class
from ..results.readers import RunReader
from .columns import BASE_COLS, C

TEXT_CAP = 4_000  # characters of prompt/response kept per example in the report


def cap(text: str | None, n: int = TEXT_CAP) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[:n] + f" … [{len(text) - n} more characters]"


def example_records(reader: RunReader, rows: list[tuple], judges: list[str], primary: str | None
                    ) -> list[dict[str, Any]]:
    """Example records for the report's browser, with every judge's label and the primary judge's
    rationale and back-translation (when the judge stored one in verdicts.extra or the probe's meta).
    `rows` are export rows (columns.export_columns(judges))."""
    out = []
    nb = len(BASE_COLS)
    thumbs = Thumbnails(Path(reader.path).parent / "images")
    keys = [r[C["probe_key"]] for r in rows]  # two batched reads instead of two queries per example
    verdicts = reader.verdict_details(keys, primary) if primary is not None else {}
    probes = reader.probe_details(keys)
    for r in rows:
        outcome = r[C["outcome"]]
        labels = {j: (outcome if outcome != "ok" else (r[nb + 2 * i] or "unjudged")) for i, j in enumerate(judges)}
        rationale = back = None
        key, target = r[C["probe_key"]], r[C["target"]]
        if primary is not None:
            v = verdicts.get((key, target))
            if v:
                rationale = v[0] or v[2]
                back = _back_translation(v[1])
        pr = probes.get(key)
        if back is None:
            back = _back_translation(pr[0] if pr else None)
        prompt_back = _prompt_back_translation(pr[1] if pr else None)
        prompt, probe_prompt = r[C["prompt"]], r[C["probe_prompt"]]
        images = thumbs.for_probe(reader, key, pr[0] if pr else None)
        if probe_prompt is not None and probe_prompt.startswith("[{"):  # content parts: show the text
            from ..images.parts import text_of

            probe_prompt = text_of(json.loads(probe_prompt))
        benign = is_benign_prompt(str(r[C["prompt_label"]] or "").lower())
        label = labels.get(primary) if primary else outcome
        cls = verdict_class(label, not benign) or "excluded"
        if benign and is_refusal(label):
            cls = "refused_benign"
        response, decoded = r[C["response"]], r[C["decoded"]]
        out.append({
            "dataset": r[C["dataset"]], "item": r[C["item_id"]], "lang": r[C["language"]], "tier": r[C["tier"]],
            "category": r[C["category"]] or "", "benign": benign, "transform": r[C["transform"]],
            "target": target, "outcome": outcome, "label": label, "cls": cls, "labels": labels,
            "prompt": cap(probe_prompt if probe_prompt is not None else prompt),
            "original": cap(prompt) if probe_prompt is not None and probe_prompt != prompt else None,
            "response": cap(response), "decoded": cap(decoded) if decoded and decoded != response else None,
            "rationale": cap(rationale, 1500), "back_translation": cap(back),
            "prompt_back_translation": cap(prompt_back),
            **({"images": images} if images else {}),
        })
    return out


class Thumbnails:
    """Size-capped JPEG data URIs of the images a probe showed, for the examples browser: at most
    `per_image` bytes each and `budget` bytes for the whole report (then alt text only)."""

    def __init__(self, folder: Path, per_image: int = 24_000, budget: int = 4_000_000, max_side: int = 160):
        self.folder, self.per_image, self.budget, self.max_side = folder, per_image, budget, max_side
        self._cache: dict[str, str | None] = {}
        self.used = 0

    def for_probe(self, reader: RunReader, probe_key: str, meta_json: str | None) -> list[dict[str, Any]]:
        if not meta_json or '"image+text"' not in meta_json:
            return []
        from ..images.parts import iter_image_parts

        out = []
        for p in iter_image_parts(reader.probe_messages(probe_key)):
            sha = str(p.get("sha256", ""))
            size = f"{p.get('width', '?')}x{p.get('height', '?')}"
            out.append({"src": self._uri(sha), "alt": f"image {sha[:12]} ({p.get('mime', 'image')}, {size})"})
        return out

    def _uri(self, sha: str) -> str | None:
        if sha not in self._cache:
            uri = None
            if self.used < self.budget:
                from ..images.store import ImageStore

                uri = ImageStore(self.folder).thumbnail_data_uri(sha, self.max_side, self.per_image)
                self.used += len(uri or "")
            self._cache[sha] = uri
        return self._cache[sha]


_BACK_KEYS = ("back_translation", "backtranslation", "response_en", "translated_response", "translation")


def _prompt_back_translation(chain: str | None) -> str | None:
    """The translate step's back-translation of the prompt (with its chrF), when the chain has one."""
    try:
        steps = json.loads(chain) if chain else []
    except (ValueError, TypeError):
        return None
    for step in reversed(steps if isinstance(steps, list) else []):
        params = step.get("params") if isinstance(step, dict) else None
        if isinstance(params, dict) and isinstance(params.get("back_translation"), str):
            chrf = params.get("chrf")
            return params["back_translation"] + (f"\n[chrF {chrf}]" if chrf is not None else "")
    return None


def _back_translation(extra: str | None) -> str | None:
    if not extra:
        return None
    try:
        d = json.loads(extra)
    except (ValueError, TypeError):
        return None
    if not isinstance(d, dict):
        return None
    for k in _BACK_KEYS:
        if isinstance(d.get(k), str) and d[k].strip():
            return d[k]
    return None
