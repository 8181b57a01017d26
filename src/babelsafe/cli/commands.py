"""Imports every command module so their commands are registered on the app (in help order)."""
<<<<<<< HEAD
from . import run, browse, evaluate, defense, whitebox  # noqa: F401
=======
from . import run, generate, browse, evaluate, defense  # noqa: F401
>>>>>>> main
