"""How tool calls travel between the agent loop and a model.

native  OpenAI function calling: the tools go in the request's `tools`; the answer's tool calls come back
        in the text as JSON {"content", "tool_calls"} with finish_reason "tool_calls" (the openai target
        does this, so the run's cache keeps them); results go back as `tool` messages.
prompt  for text-only models (the embedded llama.cpp model, transformers, vLLM offline): the tools are
        described in the system message and the model writes <tool_call>{"name":..,"arguments":{..}}
        </tool_call> (the Hermes/Qwen convention that small chat models have seen most); results go back
        as a user message holding <tool_response>...</tool_response>.

Parsing never raises: what cannot be read is returned as a malformed call and recorded in the trace.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .scenario import ToolSpec

NATIVE, PROMPT = "native", "prompt"
TOOL_CALLS_FINISH = "tool_calls"

PROMPT_SYSTEM = (
    "You are an assistant that can act for the user with these tools:\n<tools>\n{tools}\n</tools>\n"
    "To call a tool, reply with only:\n<tool_call>{{\"name\": \"TOOL_NAME\", \"arguments\": {{...}}}}</tool_call>\n"
    "The result comes back as <tool_response>...</tool_response>. Call one tool at a time. When the task is "
    "done, or if you decide not to do it, reply to the user in plain text without <tool_call>.")
NATIVE_SYSTEM = "You are an assistant that can act for the user with the tools you are given."

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: Any  # a dict when well formed
    malformed: str | None = None  # why it could not be used as given


@dataclass
class Reply:
    content: str
    calls: list[ToolCall] = field(default_factory=list)
    raw: str = ""


def system_prompt(protocol: str, specs: list[ToolSpec]) -> str:
    if protocol == NATIVE:
        return NATIVE_SYSTEM
    tools = "\n".join(json.dumps({"name": s.name, "description": s.description, "parameters": s.parameters},
                                 ensure_ascii=False) for s in specs)
    return PROMPT_SYSTEM.format(tools=tools)


def request_extra(protocol: str, specs: list[ToolSpec]) -> dict[str, Any]:
    """What the model request carries besides the messages (part of the cache key)."""
    if protocol == NATIVE and specs:
        return {"tools": [s.openai() for s in specs], "tool_choice": "auto"}
    return {}


def _loads_args(raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw is None or raw == "":
        return {}, None
    try:
        val = json.loads(raw)
    except (TypeError, ValueError) as e:
        return raw, f"arguments are not valid JSON: {e}"
    if not isinstance(val, dict):
        return val, "arguments are not a JSON object"
    return val, None


def parse_native(text: str, finish_reason: str | None, step: int) -> Reply:
    if finish_reason != TOOL_CALLS_FINISH:
        return Reply(content=text, raw=text)
    try:
        msg = json.loads(text)
        content, items = msg.get("content") or "", msg.get("tool_calls") or []
    except (ValueError, AttributeError):
        return Reply(content="", raw=text, calls=[ToolCall(f"s{step}-0", "", text, "unreadable tool-call reply")])
    calls = []
    for i, tc in enumerate(items):
        fn = (tc or {}).get("function") or {}
        args, why = _loads_args(fn.get("arguments"))
        name = fn.get("name") or ""
        calls.append(ToolCall(str(tc.get("id") or f"s{step}-{i}"), name, args,
                              why or (None if name else "the call names no tool")))
    return Reply(content=content, calls=calls, raw=text)


def parse_prompt(text: str, step: int) -> Reply:
    """<tool_call> blocks; also a whole reply that is one JSON object with name + arguments."""
    calls: list[ToolCall] = []
    blocks = _CALL.findall(text)
    stripped = text.strip()
    if not blocks and stripped.startswith("{") and '"name"' in stripped:
        blocks = [stripped]
    for i, block in enumerate(blocks):
        cid = f"s{step}-{i}"
        try:
            obj = json.loads(_first_json(block))
        except ValueError as e:
            calls.append(ToolCall(cid, "", block[:500], f"tool call is not valid JSON: {e}"))
            continue
        if not isinstance(obj, dict) or not obj.get("name"):
            calls.append(ToolCall(cid, "", obj, "tool call has no 'name'"))
            continue
        args, why = _loads_args(obj.get("arguments", obj.get("parameters", {})))
        calls.append(ToolCall(cid, str(obj["name"]), args, why))
    content = _CALL.sub("", text).strip() if blocks else text.strip()
    return Reply(content=content, calls=calls, raw=text)


def _first_json(block: str) -> str:
    """The first balanced {...} in a block (models often add text after the object)."""
    start = block.find("{")
    if start < 0:
        return block
    depth, in_str, esc = 0, False, False
    for i in range(start, len(block)):
        ch = block[i]
        if in_str:
            esc = ch == "\\" and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return block[start:i + 1]
    return block[start:]


def assistant_message(protocol: str, reply: Reply) -> dict[str, Any]:
    """The assistant turn as the model will see it in the next request."""
    if protocol == NATIVE and reply.calls:
        return {"role": "assistant", "content": reply.content or "",
                "tool_calls": [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments if isinstance(
                                    c.arguments, str) else json.dumps(c.arguments, ensure_ascii=False)}}
                               for c in reply.calls]}
    return {"role": "assistant", "content": reply.raw}


def result_messages(protocol: str, results: list[tuple[ToolCall, str, Any]]) -> list[dict[str, Any]]:
    """Tool results as messages: one `tool` message per call (native) or one user message (prompt)."""
    def body(status: str, result: Any) -> str:
        payload = {"result": result} if status == "ok" else {"error": result, "status": status}
        return json.dumps(payload, ensure_ascii=False, default=str)

    if protocol == NATIVE:
        return [{"role": "tool", "tool_call_id": c.id, "content": body(s, r)} for c, s, r in results]
    text = "\n".join(f"<tool_response>{body(s, r)}</tool_response>" for _, s, r in results)
    return [{"role": "user", "content": text}]
