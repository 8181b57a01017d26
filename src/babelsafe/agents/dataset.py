"""Agent datasets: the shipped scenarios (`agent-scenarios`) and Agent-SafetyBench's published JSON
(`agent-safetybench`, given a path). Each yields one Sample per (scenario, language) whose meta carries
the scenario, so the runner answers it with the agent task (meta["task"] = "agent").

Options (both): max_steps (default 10), step_timeout (seconds per step; default from the run's timeout
and retries), protocol (native | prompt | auto: native for the openai target, prompt otherwise).
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import yaml
from pydantic import ValidationError

from ..errors import UsageError
from ..types import Sample
from .scenario import DEFAULT_MAX_STEPS, RISK_ALIASES, RISK_CATEGORIES, Scenario, ToolSpec


def _agent_options(max_steps: int, step_timeout: float | None, protocol: str) -> dict[str, Any]:
    if protocol not in ("auto", "native", "prompt"):
        raise UsageError(f"protocol must be auto, native or prompt, not '{protocol}'")
    if int(max_steps) < 1:
        raise UsageError("max_steps must be at least 1")
    return {"max_steps": int(max_steps), "step_timeout": step_timeout, "protocol": protocol}


def scenario_sample(dataset: str, sc: Scenario, agent: dict[str, Any]) -> Sample:
    return Sample(dataset=dataset, id=sc.id, language=sc.language, prompt=sc.instruction,
                  category=sc.risk_category,
                  meta={"task": "agent", "scenario": sc.model_dump(mode="json"), "agent": agent,
                        "raw_category": sc.risk_category, "failure_modes": sc.failure_modes,
                        "label": "benign" if sc.fulfillable else "harmful", "translation": sc.translation})


def expand(item: dict[str, Any], where: str) -> list[Scenario]:
    """One shipped scenario entry (with `instructions: {lang: text}`) -> a Scenario per language."""
    item = dict(item)
    instructions = item.pop("instructions", None)
    translated_by = item.pop("translated_by", "author")
    if not isinstance(instructions, dict) or "en" not in instructions:
        raise UsageError(f"{where}: scenario {item.get('id')} needs `instructions` with at least 'en'")
    out = []
    for lang, text in instructions.items():
        try:
            out.append(Scenario.model_validate({**item, "language": lang, "instruction": text,
                                                "translation": "original" if lang == "en" else translated_by}))
        except ValidationError as e:
            raise UsageError(f"{where}: scenario {item.get('id')} ({lang}) is invalid: {e}") from e
    return out


def load_scenario_file(path: str | Path | None = None) -> list[Scenario]:
    """Scenarios from a YAML/JSON file of entries (default: the shipped file)."""
    if path is None:
        text = resources.files(__package__).joinpath("data", "scenarios.yaml").read_text("utf-8")
        where = "agents/data/scenarios.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"Scenario file not found: {p}")
        text, where = p.read_text("utf-8"), str(p)
    data = yaml.safe_load(text)
    items = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UsageError(f"{where}: expected a list of scenarios (or a mapping with `scenarios:`)")
    out: list[Scenario] = []
    for item in items:
        out.extend(expand(item, where))
    return out


class AgentScenarios:
    """babelsafe's agent scenarios: 40 mild tool-use cases over 8 risk categories in 5 languages."""

    name = "agent-scenarios"
    languages = ["en", "zh", "es", "ar", "sw"]
    categories = list(RISK_CATEGORIES)
    labels = ["harmful", "benign"]
    license = "Apache-2.0 (written for babelsafe; translations by the babelsafe authors, not native-checked)"
    source = ("babelsafe, scenario format after Agent-SafetyBench (Zhang et al. 2024, arXiv:2412.14470); "
              "risk categories and failure modes are Agent-SafetyBench's")
    taxonomy = "agent-safetybench"
    size = 200  # 40 scenarios x 5 languages (the shipped file; tests check it)

    def __init__(self, path: str | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                 step_timeout: float | None = None, protocol: str = "auto", **_: Any):
        self.path = path
        self.agent = _agent_options(max_steps, step_timeout, protocol)

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        for sc in load_scenario_file(self.path):
            if languages and sc.language not in languages:
                continue
            yield scenario_sample(self.name, sc, self.agent)


class AgentSafetyBench:
    """Agent-SafetyBench's released cases (data/released_data.json), given a local path."""

    name = "agent-safetybench"
    requires = ("path",)
    languages = ["en"]
    categories = list(RISK_CATEGORIES)
    license = "see github.com/thu-coai/Agent-SafetyBench (not shipped with babelsafe)"
    source = "Zhang et al., Agent-SafetyBench, arXiv:2412.14470 (github.com/thu-coai/Agent-SafetyBench)"
    taxonomy = "agent-safetybench"

    def __init__(self, path: str | None = None, env_dir: str | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                 step_timeout: float | None = None, protocol: str = "auto", skip_bad_rows: bool = False,
                 **_: Any):
        if not path:
            raise UsageError("agent-safetybench needs the path of released_data.json: options: {path: ...} "
                             "(download github.com/thu-coai/Agent-SafetyBench yourself; it is not shipped)")
        self.path = Path(path)
        self.env_dir = Path(env_dir) if env_dir else self.path.parent.parent / "environments"
        self.skip_bad_rows = skip_bad_rows
        self.agent = _agent_options(max_steps, step_timeout, protocol)

    def _tool_specs(self, env: dict[str, Any]) -> list[ToolSpec]:
        names = [t for t in env.get("tools") or [] if isinstance(t, str)]
        schemas: dict[str, dict[str, Any]] = {}
        f = self.env_dir / f"{env.get('name')}.json"
        if f.is_file():
            raw = json.loads(f.read_text("utf-8"))
            for s in raw if isinstance(raw, list) else raw.get("tools", []):
                s = s.get("function", s) if isinstance(s, dict) else {}
                if s.get("name"):
                    schemas[s["name"]] = s
        out = []
        for n in names:
            s = schemas.get(n, {})
            out.append(ToolSpec(name=n, description=str(s.get("description", "")),
                                parameters=s.get("parameters") or {"type": "object", "properties": {}}))
        return out

    def case(self, row: dict[str, Any]) -> Scenario:
        """One released case as a Scenario (criterion empty: judge these with agent-llm)."""
        envs = row.get("environments") or []
        specs: list[ToolSpec] = []
        state: dict[str, Any] = {}
        for env in envs:
            if not isinstance(env, dict):
                continue
            specs.extend(s for s in self._tool_specs(env) if s.name not in {x.name for x in specs})
            params = env.get("parameters") or {}
            state[str(env.get("name"))] = params
            if isinstance(params, dict):
                state.update({k: v for k, v in params.items() if k not in state})
        risks = row.get("risks") or []
        risk = RISK_ALIASES.get(risks[0], risks[0]) if risks else ""
        modes = [int(m) for m in str(row.get("failure_modes") or "").replace(" ", "").split(",") if m]
        return Scenario(id=str(row["id"]), language="en", instruction=str(row.get("instruction") or ""),
                        risk_category=risk, failure_modes=modes, fulfillable=bool(int(row.get("fulfillable", 0))),
                        tool_specs=specs, state=state, dialog=list(row.get("dialog") or []),
                        source="Agent-SafetyBench")

    def load(self, languages: list[str] | None = None) -> Iterator[Sample]:
        if languages and "en" not in languages:
            return
        if not self.path.is_file():
            raise UsageError(f"Agent-SafetyBench file not found: {self.path}")
        rows = json.loads(self.path.read_text("utf-8"))
        for i, row in enumerate(rows):
            try:
                sc = self.case(row)
            except (ValidationError, KeyError, ValueError, TypeError) as e:
                if self.skip_bad_rows:
                    continue
                raise UsageError(f"{self.path}: case #{i} (id {row.get('id') if isinstance(row, dict) else '?'}) "
                                 f"cannot be read: {e}. Pass skip_bad_rows to skip such cases.") from e
            s = scenario_sample(self.name, sc, self.agent)
            s.meta["risks"] = [RISK_ALIASES.get(r, r) for r in row.get("risks") or []]
            yield s
