"""Imports every command module so their commands are registered on the app (in help order)."""
from . import run, generate, browse, evaluate, defense, whitebox  # noqa: F401
