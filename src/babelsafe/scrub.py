"""Keep credentials out of everything babelsafe writes or shows (summaries, reports, run metadata)."""
from __future__ import annotations

import re
from typing import Any

_SECRET_HINTS = ("api_key", "apikey", "secret", "password", "token", "authorization", "bearer")
_SECRET = re.compile("|".join(map(re.escape, _SECRET_HINTS)))  # any hint in the key (one scan, not seven)


def scrub(obj: Any) -> Any:
    """Drop values whose key looks like a credential (keeps *_env names, which are variable names,
    and token counts)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            kl = str(k).lower()
            if _SECRET.search(kl) and not kl.endswith("_env") and "tokens" not in kl:
                out[k] = "***"
            else:
                out[k] = scrub(v)
        return out
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj
