"""Targets: models under test. See base.Target."""
from .base import ProviderError, Target

__all__ = ["ProviderError", "Target"]
