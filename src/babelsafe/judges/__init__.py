"""Judges: label answers (refusal, safety). See base.Judge."""
from .base import Judge

__all__ = ["Judge"]
