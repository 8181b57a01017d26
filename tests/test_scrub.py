"""scrub: credential-looking keys are masked at any depth; *_env names and token counts are kept; the
one-regex test is the rule it replaced (any hint as a substring of the lowercased key)."""
from __future__ import annotations

import itertools

from babelsafe.scrub import _SECRET_HINTS, scrub


def _old_rule(key: str) -> bool:
    kl = key.lower()
    return any(h in kl for h in _SECRET_HINTS) and not kl.endswith("_env") and "tokens" not in kl


def test_masks_secrets_at_any_depth_and_keeps_env_names_and_token_counts():
    cfg = {"model": "m", "api_key": "sk-x", "API_KEY_ENV": "MY_KEY", "headers": {"Authorization": "Bearer x"},
           "targets": [{"password": "p", "max_tokens": 8, "token": "t"}], "prompt_tokens": 3}
    assert scrub(cfg) == {"model": "m", "api_key": "***", "API_KEY_ENV": "MY_KEY", "headers": {"Authorization": "***"},
                          "targets": [{"password": "***", "max_tokens": 8, "token": "***"}], "prompt_tokens": 3}
    assert scrub("plain") == "plain" and scrub([1, {"x": None}]) == [1, {"x": None}]


def test_regex_is_the_substring_rule():
    parts = ["", "x", "_", "API", "key", "api_key", "ApiKey", "secret", "pass", "password", "tokens", "token",
             "author", "authorization", "bearer", "_env", "env", "İ"]
    keys = ["".join(p) for p in itertools.product(parts, repeat=3)]
    for key in keys:
        assert (scrub({key: "v"})[key] == "***") == _old_rule(key), key
    assert scrub({7: "v", None: "w"}) == {7: "v", None: "w"}  # (non-string keys: str(k))
