"""Contract tests over EVERY registered component of every kind, plus the registry's own behaviour."""
from __future__ import annotations

import pytest

from babelsafe.datasets.base import Dataset
from babelsafe.errors import UsageError
from babelsafe.judges.base import Judge
from babelsafe.registry import KINDS, install_hint, registry, reload
from babelsafe.targets.base import Target
from babelsafe.tasks import Task
from babelsafe.transforms.base import Transform

PROTOCOLS = {"dataset": Dataset, "transform": Transform, "target": Target, "judge": Judge, "defense": Target,
             "task": Task}
ALL = [(kind, name) for kind in KINDS for name in registry(kind).names()]


class Inner:
    """A minimal target for defense layers to wrap (never called here)."""

    name = "inner"

    def identity(self) -> dict:
        return {"type": "inner"}

    async def generate(self, messages, params):  # pragma: no cover - not called
        raise AssertionError("not called")


def _load(kind: str, name: str):
    try:
        return registry(kind).get(name)
    except UsageError as e:  # an optional extra that this machine does not have (e.g. vllm)
        assert "pip install 'babelsafe[" in str(e), e
        pytest.skip(str(e))


def test_every_kind_is_covered():
    assert set(PROTOCOLS) == set(KINDS)
    assert len(ALL) >= 40  # datasets + transforms + targets + judges + defenses


@pytest.mark.parametrize("kind,name", ALL)
def test_declares_source_license_languages(kind, name):
    cls = _load(kind, name)
    for attr in ("source", "license"):
        assert getattr(cls, attr, None), f"{kind} '{name}' does not declare `{attr}`"
    assert hasattr(cls, "languages"), f"{kind} '{name}' does not declare `languages`"
    langs = cls.languages
    if kind == "dataset" and getattr(cls, "size", None) == 0:  # ships no prompts (sorry-bench: taxonomy only)
        assert langs == [], langs
        return
    assert langs == "any" or (isinstance(langs, (list, tuple)) and langs and all(isinstance(x, str) for x in langs)), langs


@pytest.mark.parametrize("kind,name", ALL)
def test_name_matches_key(kind, name):
    cls = _load(kind, name)
    assert getattr(cls, "layer" if kind == "defense" else "name") == name


@pytest.mark.parametrize("kind,name", ALL)
def test_builds_with_defaults_or_declares_required_options(kind, name):
    _load(kind, name)
    reg = registry(kind)
    args = (Inner(),) if kind == "defense" else ()
    required = reg.required_options(name)
    if required:  # declared: building without them says what is missing
        with pytest.raises(UsageError) as e:
            reg.build(name, {}, None, *args)
        for option in required:
            assert any(alt in str(e.value) for alt in option.split("|")), (option, str(e.value))
        return
    try:
        obj = reg.build(name, {}, None, *args)
    except UsageError as e:  # a default that needs an optional package (the local model)
        assert "pip install" in str(e), e
        pytest.skip(str(e))
    assert isinstance(obj, PROTOCOLS[kind]), f"{kind} '{name}' does not satisfy the {kind} protocol"
    described = reg.describe(name)
    assert described["name"] == name and described["description"]


@pytest.mark.parametrize("kind,name", ALL)
def test_optional_capabilities_are_declared(kind, name):
    """Capabilities are flags in the protocol, and a flag set means the method is there."""
    cls = _load(kind, name)
    if kind == "transform":
        assert isinstance(cls.decodes, bool)
        assert cls.decodes == callable(getattr(cls, "decode", None))
    if kind == "judge":
        assert isinstance(cls.stateful, bool)
        assert cls.stateful == (callable(getattr(cls, "state", None)) and callable(getattr(cls, "load_state", None)))
    if kind in ("target", "defense"):
        assert isinstance(cls.batched, bool)
        assert cls.batched == callable(getattr(cls, "generate_batch", None))


def test_option_type_errors_name_the_option_and_type():
    with pytest.raises(UsageError, match="shift must be an integer, got 'abc'"):
        registry("transform").build("caesar", {"shift": "abc"})
    with pytest.raises(UsageError, match="ratio must be a number"):
        registry("transform").build("codeswitch", {"ratio": "lots", "lang": "en"})
    assert registry("transform").build("caesar", {"shift": 5}).shift == 5


def test_unknown_option_lists_valid_ones():
    with pytest.raises(UsageError, match="Valid options: shift"):
        registry("transform").build("caesar", {"shfit": 2})


def test_missing_extra_names_a_real_extra():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for module in ("llama_cpp", "transformers", "vllm", "fastapi", "pyarrow", "unidecode"):
        hint = install_hint(module)
        extra = hint.split("[")[1].split("]")[0]
        assert extra in extras, (module, hint)
    assert install_hint("somethingelse") == "pip install somethingelse"


def test_entry_points_are_read_once(monkeypatch):
    import babelsafe.registry as R

    calls = []
    real = R.entry_points
    monkeypatch.setattr(R, "entry_points", lambda **kw: calls.append(kw) or real(**kw))
    reload()
    try:
        for _ in range(5):
            registry("transform").names()
            registry("transform").get("caesar")
        assert len(calls) == 1
    finally:
        reload()


def test_unknown_name_suggests_close_match():
    with pytest.raises(UsageError, match="Did you mean 'caesar'"):
        registry("transform").get("ceasar")
