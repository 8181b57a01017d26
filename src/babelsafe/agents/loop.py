"""The agent loop: the runner's "agent" task (registry kind `task`, babelsafe.tasks.Task).

For a probe whose sample carries a scenario (`meta["task"] == "agent"`): build the scenario's tools over a
fresh copy of its state, then alternate model call -> tool calls -> tool results until the model answers
in text, or `max_steps` model calls were made (default 10, as Agent-SafetyBench). Every model call goes
through `ctx.call` (the run's one cached, retried, rate-limited path), so a resumed run replays finished
steps from the store and repeats no model call; tools are deterministic, so the replayed trace is the same.
Each step has a deadline (`step_timeout`); a call that fails or times out ends the trace as an error
(excluded from rates). Malformed tool calls, bad arguments and tools that raise are recorded and answered
with an error message to the model, never raised.

The trace (every model call, tool call and tool result, plus the final state) rides on
`Generation.trace` to the judges and is stored as component ("agent_trace", "<probe_key>|<target>").
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from ..results.readers import AGENT_TRACE_KIND
from ..types import ERROR, OK, GenParams, Generation, Probe, stable_hash
from .protocol import (NATIVE, PROMPT, assistant_message, parse_native, parse_prompt, request_extra,
                       result_messages, system_prompt)
from .scenario import DEFAULT_MAX_STEPS, Scenario
from .tools import Environment

log = logging.getLogger(__name__)

TRACE_KIND = AGENT_TRACE_KIND


def trace_name(probe_key: str, target: str) -> str:
    return f"{probe_key}|{target}"


def choose_protocol(target: Any, wanted: str | None) -> str:
    """native for OpenAI-compatible endpoints, the prompt protocol for everything else (or as asked)."""
    if wanted in (NATIVE, PROMPT):
        return wanted
    ident = target.identity() if hasattr(target, "identity") else {}
    inner = ident.get("inner", ident) if isinstance(ident, dict) else {}
    return NATIVE if (ident.get("type") == "openai" or inner.get("type") == "openai") else PROMPT


async def run_agent(probe: Probe, slot: Any, ctx: Any) -> Generation:
    """Run the scenario of `probe` against the target of `slot`; a Generation with the final answer."""
    meta = probe.sample.meta
    scenario = Scenario.model_validate(meta["scenario"])
    opts = dict(meta.get("agent") or {})
    max_steps = int(opts.get("max_steps") or DEFAULT_MAX_STEPS)
    step_timeout = float(opts.get("step_timeout") or (ctx.spec.timeout + 5) * (ctx.spec.retries + 1))
    protocol = choose_protocol(slot.target, opts.get("protocol"))
    specs = scenario.specs()
    env = Environment(specs, scenario.state, shipped=set(scenario.tools))
    params: GenParams = slot.params
    extra = request_extra(protocol, specs)
    if extra:
        params = replace(params, extra_body={**params.extra_body, **extra})

    system = system_prompt(protocol, specs)
    for more in (slot.system_prompt, scenario.system):
        if more:
            system = f"{more}\n\n{system}"
    convo = [m for m in probe.messages if m.get("role") != "system"]
    own_system = [m["content"] for m in probe.messages if m.get("role") == "system" and m.get("content")]
    if own_system:
        system = system + "\n\n" + "\n\n".join(own_system)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, *scenario.dialog, *convo]

    steps: list[dict[str, Any]] = []
    final = Generation(text="", outcome=OK, finish_reason="agent:max_steps")
    tokens = [0, 0]
    t0 = time.perf_counter()
    for step in range(max_steps):
        try:
            g = await asyncio.wait_for(ctx.call(slot.target, messages, params, purpose="agent"), step_timeout)
        except asyncio.TimeoutError:
            g = Generation(text=None, outcome=ERROR, error=f"step {step} took longer than {step_timeout:g}s",
                           error_kind="timeout")
        tokens[0] += g.prompt_tokens or 0
        tokens[1] += g.completion_tokens or 0
        if g.outcome != OK:
            steps.append({"kind": "model", "step": step, "outcome": g.outcome, "error": g.error,
                          "error_kind": g.error_kind, "cached": g.cached, "cache_key": g.cache_key})
            final = Generation(text=None, outcome=g.outcome, finish_reason="agent:" + g.outcome,
                               error=g.error if (g.error or "").startswith("step ") else f"step {step}: {g.error}",
                               error_kind=g.error_kind)
            break
        reply = (parse_native(g.text or "", g.finish_reason, step) if protocol == NATIVE
                 else parse_prompt(g.text or "", step))
        steps.append({"kind": "model", "step": step, "outcome": g.outcome, "cached": g.cached,
                      "cache_key": g.cache_key, "finish_reason": g.finish_reason, "content": reply.content,
                      "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments,
                                      "malformed": c.malformed} for c in reply.calls],
                      "raw": g.text if protocol == PROMPT else None})
        if not reply.calls:
            final = Generation(text=reply.content, outcome=OK, finish_reason="agent:answer")
            break
        messages.append(assistant_message(protocol, reply))
        results = []
        for c in reply.calls:
            if c.malformed:
                status, result = "malformed", f"malformed tool call: {c.malformed}"
            else:
                status, result = env.call(c.name, c.arguments)
            steps.append({"kind": "tool", "step": step, "id": c.id, "name": c.name, "arguments": c.arguments,
                          "status": status, "result": result})
            results.append((c, status, result))
        messages.extend(result_messages(protocol, results))
    else:
        log.info("agent %s/%s on %s: no final answer after %d steps", probe.sample.id, probe.language,
                 slot.label, max_steps)
    final.prompt_tokens, final.completion_tokens = tokens[0] or None, tokens[1] or None
    final.latency_s = time.perf_counter() - t0
    final.attempts = sum(1 for s in steps if s["kind"] == "model")
    final.cache_key = stable_hash([probe.key, slot.label, "agent"])
    final.trace = steps
    record = {"scenario": scenario.id, "language": probe.language, "protocol": protocol, "max_steps": max_steps,
              "stop": final.finish_reason, "steps": steps, "final_state": env.state}
    ctx.store.write_component(TRACE_KIND, trace_name(probe.key, slot.label), record)
    return final


class AgentTask:
    """The agent loop over a scenario's simulated tools (Agent-SafetyBench's protocol, up to max_steps)."""

    name = "agent"
    languages = "any"
    source = "babelsafe; protocol after Agent-SafetyBench (Zhang et al. 2024, arXiv:2412.14470)"
    license = "Apache-2.0"

    async def run(self, probe: Probe, slot: Any, ctx: Any) -> Generation:
        return await run_agent(probe, slot, ctx)
