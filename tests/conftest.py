"""Shared fixtures: a real loopback OpenAI-compatible server."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAI  # noqa: E402

try:  # property tests check values, never timings: a loaded CI machine must not fail them (no deadline)
    from hypothesis import settings

    settings.register_profile("babelsafe", deadline=None)
    settings.load_profile("babelsafe")
except ImportError:
    pass


@pytest.fixture
def openai_server():
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()


@pytest.fixture
def api_key(monkeypatch):
    """A fake key in an env var; tests check its value never lands in the run dir."""
    value = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("BABELSAFE_TEST_KEY", value)
    return value
