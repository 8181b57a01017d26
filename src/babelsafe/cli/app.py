"""The typer app, its two consoles (results to stdout, messages to stderr) and the error exit."""
from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import typer

from ..errors import UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Measure, attack and defend LLM safety across languages.")


class LazyConsole:
    """A rich Console made on first use and standing in for it (attributes go to it): importing rich
    costs ~50 ms of CPU that `--help` and most usage errors do not need. `.console` is the Console."""

    __slots__ = ("_options", "_console")

    def __init__(self, **options: Any):
        self._options = options
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


console: Any = LazyConsole(stderr=True)  # progress, messages, errors
out: Any = LazyConsole()  # results (tables, JSON): what a user pipes


def main() -> None:
    """Console-script entry point: usage errors exit with code 2 and a message saying what to do."""
    from . import commands  # noqa: F401  (registers the commands on `app`)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the terminal gets warnings; run.log gets everything
        handler.setLevel(logging.WARNING)
    try:
        app()
    except UsageError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)


def fail(e: UsageError) -> NoReturn:
    """Print a usage error (what went wrong and what to do) and exit with code 2."""
    console.print(f"[bold red]error:[/] {e}", highlight=False)
    raise typer.Exit(2)
