"""The `babelsafe` command line: maps flags onto babelsafe.api calls and prints what they return.

    app.py       the typer app, consoles, error exit
    run.py       run, resume (progress bar, Ctrl-C)
    generate.py  generate (test suites over a coverage matrix)
    evaluate.py  report, compare, calibrate
    defense.py   guard serve, defend export | scan
    browse.py    list, show
    whitebox.py  whitebox steer-vector | heads-scan | rank-languages
    render.py    tables for each verb's data; layout.py fits them to the terminal's width
"""
from __future__ import annotations

from .app import app, main
from . import commands  # noqa: F401,E402  (registers the commands on `app`)

__all__ = ["app", "main"]
