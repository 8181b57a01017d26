"""The guardrail proxy: an OpenAI-compatible server (FastAPI) in front of any chat model.

    babelsafe guard serve --upstream http://127.0.0.1:8000/v1 --judge refusal

Endpoints: POST /v1/chat/completions (JSON and streaming SSE), GET /v1/models (passed through),
GET /metrics (counters and latency percentiles), GET /healthz.

    config.py     ProxyConfig and config_from_flags (secrets read from env vars)
    app.py        Guard (state), the FastAPI app, the chat route as small steps, ProxyThread, serve
    upstream.py   the pooled upstream session; upstream failures mapped to 502 / 504 / 429 / 4xx
    screening.py  output checks of a whole (JSON) answer
    streaming.py  checked relay of SSE streams (held back, released after a check, cut when unsafe)
    responses.py  OpenAI-shaped errors, completions and stream chunks the proxy writes itself
    audit.py      /metrics counters and latency windows; the JSONL audit log (prompt hashes, no secrets)
"""
from __future__ import annotations

from .app import Guard, ProxyThread, create_app, serve
from .audit import AuditLog, Metrics
from .config import ProxyConfig, config_from_flags
from .responses import error_body
from .upstream import UpstreamError

__all__ = ["ProxyConfig", "ProxyThread", "create_app", "serve", "config_from_flags", "Guard", "Metrics",
           "AuditLog", "UpstreamError", "error_body"]
