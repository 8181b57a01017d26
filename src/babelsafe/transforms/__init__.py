"""Transforms and attacks. See base.Transform."""
from .base import Transform

__all__ = ["Transform"]
