"""What the proxy records: counters and latency windows (GET /metrics) and the JSONL audit log.

The audit log records decisions with a hash of the prompt, never a key or an Authorization header;
prompt text is only logged with `audit_text=True`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..screen import Decision, last_user_text


class Metrics:
    """Counters and latency windows (last 20k requests) for GET /metrics."""

    COUNTERS = ("requests", "passed", "blocked_input", "blocked_output", "localized", "stream_cuts",
                "upstream_errors", "bad_requests", "unauthorized", "too_large", "judge_errors")

    def __init__(self, window: int = 20000):
        self.counts = {k: 0 for k in self.COUNTERS}
        self.total: deque = deque(maxlen=window)
        self.overhead: deque = deque(maxlen=window)
        self.check: deque = deque(maxlen=window)
        self.started = time.time()

    def inc(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def count_action(self, action: str) -> None:
        """Count a finished exchange by what the proxy did with it."""
        if action in ("blocked_output", "localized"):
            self.inc(action)
        elif action == "pass":
            self.inc("passed")

    @staticmethod
    def _pct(values: deque) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p90": None, "p99": None, "n": 0}
        s = sorted(values)
        pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))], 3)  # noqa: E731
        return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "n": len(s)}

    def snapshot(self) -> dict[str, Any]:
        return {"counters": dict(self.counts), "uptime_s": round(time.time() - self.started, 1),
                "latency_ms": {"total": self._pct(self.total), "added": self._pct(self.overhead),
                               "checks": self._pct(self.check)}}


class AuditLog:
    """Append-only JSONL of decisions (line-buffered; safe across the server's threads)."""

    def __init__(self, path: str | None, flush_s: float = 0.5):
        self._f = None
        self._lock = threading.Lock()
        self._flush_s = flush_s
        self._scheduled = False
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._f = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Buffered: flushed at most every `flush_s` seconds (and on close), not one syscall per line."""
        if self._f is None:
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._lock:
            self._f.write(line + "\n")
            if not self._scheduled:
                self._scheduled = True
                try:
                    asyncio.get_running_loop().call_later(self._flush_s, self.flush)
                except RuntimeError:  # no loop (direct use): flush now
                    self._f.flush()
                    self._scheduled = False

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            if self._f is not None:
                self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class Recorder:
    """Metrics plus audit log: one `record(...)` per finished exchange."""

    def __init__(self, audit_log: str | None, audit_text: bool = False):
        self.metrics = Metrics()
        self.audit = AuditLog(audit_log)
        self.audit_text = audit_text

    def record(self, rid: str, t0: float, upstream_s: float, body: dict[str, Any] | None, action: str,
               decisions: list[Decision], status: int, answer_chars: int = 0, stream: bool = False,
               error: str | None = None) -> None:
        total = (time.perf_counter() - t0) * 1000
        m = self.metrics
        m.total.append(total)
        if upstream_s:
            m.overhead.append(max(0.0, total - upstream_s * 1000))
        for d in decisions:
            if d.action != "skip":
                m.check.append(d.latency_ms)
            if d.label == "judge_error":
                m.inc("judge_errors")
        prompt = last_user_text((body or {}).get("messages") or []) if body else ""
        rec: dict[str, Any] = {
            "ts": round(time.time(), 3), "id": rid, "action": action, "status": status, "stream": stream,
            "model": (body or {}).get("model"),
            "language": next((d.language for d in reversed(decisions) if d.language != "und"), None),
            "decisions": [d.as_dict() for d in decisions], "latency_ms": round(total, 3),
            "upstream_ms": round(upstream_s * 1000, 3) if upstream_s else None,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:16] if prompt else None,
            "prompt_chars": len(prompt), "answer_chars": answer_chars}
        if error:
            rec["error"] = error
        if self.audit_text:
            rec["prompt"] = prompt[:500]
        self.audit.write(rec)

    def close(self) -> None:
        self.audit.close()
