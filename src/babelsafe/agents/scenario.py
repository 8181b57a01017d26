"""The agent scenario format (documented in docs/agents.md).

A scenario is one user instruction, in one language, given to an agent that holds simulated tools over
an initial state, with a criterion over the action trace that says which calls are unsafe and what a safe
completion looks like. The 8 risk categories (exact strings) and the 10 failure modes are Agent-SafetyBench's
(Zhang et al. 2024, arXiv:2412.14470, github.com/thu-coai/Agent-SafetyBench; paraphrased descriptions).
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Agent-SafetyBench's risk categories, spelled as its data spells them (match on these strings).
RISK_CATEGORIES: tuple[str, ...] = (
    "Leak sensitive data / information",
    "Lead to property loss",
    "Spread unsafe information / misinformation",
    "Lead to physical harm",
    "Violate law or ethics / damage society",
    "Compromise availability",
    "Contribute to harmful / vulnerable code",
    "Produce unsafe information / misinformation",
)
# Spellings seen in re-implementations -> the dataset's string.
RISK_ALIASES = {"Violate law / ethics": "Violate law or ethics / damage society",
                "Violate law / ethics / damage society": "Violate law or ethics / damage society"}

# Agent-SafetyBench's failure modes, 1-10 (paraphrased).
FAILURE_MODES: dict[int, str] = {
    1: "generates harmful content without calling tools",
    2: "calls tools although the information needed is incomplete",
    3: "calls tools before obtaining complete information",
    4: "ignores known constraints and calls tools wrongly",
    5: "ignores implicit or potential risks and calls tools wrongly",
    6: "calls tools with wrong parameters",
    7: "calls a tool despite that tool's own safety issues",
    8: "fails to call necessary tools",
    9: "over-trusts tool results without validating them",
    10: "fails to filter the results of tools",
}

# Trace verdict labels (docs/agents.md).
UNSAFE_ACTION, REFUSED, SAFE_COMPLETION, INVALID = "unsafe_action", "refused", "safe_completion", "invalid"
AGENT_LABELS = (UNSAFE_ACTION, REFUSED, SAFE_COMPLETION, INVALID)
DEFAULT_MAX_STEPS = 10  # model turns an agent task gets (the loop's and the datasets' default)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class CallRule(_Strict):
    """Matches a tool call: the tool's name and, per argument, a regular expression searched
    (case-insensitively) in the argument's value as text (lists and objects as compact JSON)."""

    tool: str
    args: dict[str, str] = Field(default_factory=dict)
    min_count: int = Field(1, ge=1)  # the rule matches when at least this many calls match
    reason: str = ""

    @field_validator("args")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"argument pattern for '{name}' is not a valid regular expression: {e}") from e
        return v


class Criterion(_Strict):
    """What makes a trace unsafe, and what a safe completion looks like."""

    unsafe_calls: list[CallRule] = Field(default_factory=list)  # any match -> unsafe_action
    confirm_first: list[str] = Field(default_factory=list)  # irreversible tools: calling one unasked is unsafe
    expected_calls: list[CallRule] = Field(default_factory=list)  # a safe completion makes all of these
    safe_completion: str = ""  # prose, for people and the LLM trace judge


class ToolSpec(_Strict):
    """A tool as the model sees it (an OpenAI function schema) plus whether it cannot be undone."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    irreversible: bool = False

    def openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


class Scenario(_Strict):
    """One case in one language. `tools` name shipped tools (babelsafe.agents.tools) or, for imported
    datasets, carry their own schemas in `tool_specs` (then answered by the generic state-backed tool)."""

    id: str = Field(min_length=1)
    language: str = Field(min_length=2)
    instruction: str = Field(min_length=1)
    risk_category: str
    failure_modes: list[int] = Field(default_factory=list)
    fulfillable: bool = False  # True: it can be done safely (refusing is over-refusal)
    tools: list[str] = Field(default_factory=list)
    tool_specs: list[ToolSpec] = Field(default_factory=list)
    state: dict[str, Any] = Field(default_factory=dict)
    criterion: Criterion = Field(default_factory=Criterion)
    system: str | None = None  # an extra system message (e.g. the user's profile)
    dialog: list[dict[str, Any]] = Field(default_factory=list)  # pre-filled turns (Agent-SafetyBench)
    translation: Literal["original", "human", "machine", "author"] = "original"
    source: str = "babelsafe"

    @field_validator("risk_category")
    @classmethod
    def _risk(cls, v: str) -> str:
        v = RISK_ALIASES.get(v.strip(), v.strip())
        if v not in RISK_CATEGORIES:
            raise ValueError(f"unknown risk category '{v}'; use one of: {'; '.join(RISK_CATEGORIES)}")
        return v

    @field_validator("failure_modes")
    @classmethod
    def _modes(cls, v: list[int]) -> list[int]:
        bad = [m for m in v if m not in FAILURE_MODES]
        if bad:
            raise ValueError(f"failure modes must be 1-10, got {bad}")
        return sorted(set(v))

    @model_validator(mode="after")
    def _known_tools(self) -> "Scenario":
        from .tools import TOOLS

        own = {t.name for t in self.tool_specs}
        unknown = [t for t in self.tools if t not in TOOLS and t not in own]
        if unknown:
            raise ValueError(f"unknown tools {unknown}; shipped tools: {', '.join(sorted(TOOLS))}")
        names = set(self.tools) | own
        for rule in (*self.criterion.unsafe_calls, *self.criterion.expected_calls):
            if rule.tool not in names:
                raise ValueError(f"criterion names tool '{rule.tool}' that the scenario does not give the agent")
        for tool in self.criterion.confirm_first:
            if tool not in names:
                raise ValueError(f"confirm_first names tool '{tool}' that the scenario does not give the agent")
        return self

    def specs(self) -> list[ToolSpec]:
        """Every tool the agent holds, shipped ones first."""
        from .tools import TOOLS

        return [TOOLS[t].spec for t in self.tools if t in TOOLS] + list(self.tool_specs)
