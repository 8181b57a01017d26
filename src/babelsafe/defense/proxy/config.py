"""ProxyConfig: everything `babelsafe guard serve` takes, checked; secrets are read from env vars."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError


@dataclass
class ProxyConfig:
    """Everything `babelsafe guard serve` takes. Secrets are read from the named env vars at start."""

    upstream: str
    judge: str = "refusal"
    judge_options: dict[str, Any] = field(default_factory=dict)
    check: str | tuple[str, ...] | None = None
    input_judge: str | None = None
    pivot: bool = False
    translator: str | dict[str, Any] | None = None
    block_labels: tuple[str, ...] | None = None
    fail_closed: bool = False
    token_env: str | None = None
    upstream_key_env: str | None = None
    max_request_bytes: int = 1_000_000
    timeout: float = 60.0
    audit_log: str | None = None
    audit_text: bool = False
    stream_check_chars: int = 160
    max_connections: int = 1000


def _comma_list(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if str(s).strip()) or None


def config_from_flags(upstream: str, judge: str = "refusal", check: str | list[str] | None = None,
                      judge_options: str | dict[str, Any] | None = None, input_judge: str | None = None,
                      pivot: bool = False, translator: str | dict[str, Any] | None = None,
                      block_labels: str | list[str] | None = None, **rest: Any) -> ProxyConfig:
    """A ProxyConfig from CLI strings or Python values (JSON or dict judge options, a translator spec,
    comma strings or lists)."""
    from ...spec import parse_json_object, parse_target

    if not upstream.startswith(("http://", "https://")):
        raise UsageError(f"--upstream must be an http(s) base URL like http://127.0.0.1:8000/v1, not '{upstream}'.")
    opts = judge_options if isinstance(judge_options, dict) else parse_json_object(judge_options, "--judge-options")
    return ProxyConfig(upstream=upstream, judge=judge, judge_options=opts or {}, check=_comma_list(check),
                       input_judge=input_judge, pivot=pivot, translator=parse_target(translator),
                       block_labels=_comma_list(block_labels), **rest)


def secret(env: str | None, flag: str) -> str | None:
    """The value of the env var `env` (None when no var is named); a UsageError when it is not set."""
    if not env:
        return None
    val = os.environ.get(env)
    if not val:
        raise UsageError(f"{flag} names the environment variable {env}, but it is not set. Export it first "
                         f"(export {env}=...).")
    return val
