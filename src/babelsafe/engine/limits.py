"""Request and token budgets per target."""
from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Requests/min and tokens/min budget: a token bucket refilled continuously, holding at most one
    second's worth (so a fresh run does not burst a whole minute's quota at the provider)."""

    def __init__(self, rpm: float | None, tpm: float | None):
        self.rpm, self.tpm = rpm, tpm
        self._cap_r = max(1.0, (rpm or 0) / 60)
        self._cap_t = max(1.0, (tpm or 0) / 60)
        self._req, self._tok = self._cap_r, self._cap_t
        self._t = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                dt, self._t = now - self._t, now
                if self.rpm:
                    self._req = min(self._cap_r, self._req + dt * self.rpm / 60)
                if self.tpm:
                    self._tok = min(self._cap_t, self._tok + dt * self.tpm / 60)
                need_r = 0.0 if not self.rpm or self._req >= 1 else (1 - self._req) * 60 / self.rpm
                tok = min(tokens, self._cap_t)  # a request bigger than the bucket waits for a full bucket
                need_t = 0.0 if not self.tpm or self._tok >= tok else (tok - self._tok) * 60 / self.tpm
                wait = max(need_r, need_t)
                if wait <= 0:
                    if self.rpm:
                        self._req -= 1
                    if self.tpm:
                        self._tok -= tok
                    return
                await asyncio.sleep(wait)


def estimate_tokens(text: str) -> int:
    """Rough token count: ~4 chars per token for alphabetic scripts, ~1 per char for CJK/Thai."""
    wide = sum(1 for ch in text if ord(ch) >= 0x0E00)
    return max(1, (len(text) - wide) // 4 + wide)
