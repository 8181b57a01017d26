"""Datasets: shipped prompt sets and generic file / Hugging Face loaders."""
from .base import Dataset

__all__ = ["Dataset"]
