"""`babelsafe list KIND` and `babelsafe show KIND NAME`: what is registered, compact or in full."""
from __future__ import annotations

import json

import typer

from ..errors import UsageError
from .app import app, fail, out

# api, render and rich are imported where a command needs them (docs/DESIGN.md, Speed decisions: start-up)


@app.command("list")
def list_(what: str = typer.Argument(..., help="datasets | transforms | targets | judges | defenses | languages"),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Add description, labels, source, citation."),
          as_json: bool = typer.Option(False, "--json", help="Everything, as JSON.")) -> None:
    """Show the registered components: name, languages, size and license (more with --verbose)."""
    from .. import api
    from . import render

    try:
        kind = api.kind_of(what)
        rows = api.components(kind)
    except UsageError as e:
        fail(e)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    out.print(render.components(out, kind, rows, verbose=verbose))


@app.command()
def show(kind: str = typer.Argument(..., help="dataset | transform | target | judge | defense | language"),
         name: str = typer.Argument(..., help="A name from `babelsafe list KINDs`."),
         as_json: bool = typer.Option(False, "--json", help="As JSON.")) -> None:
    """Everything about one component: languages, size, license, source, description and its options."""
    from .. import api
    from . import render

    try:
        k = api.kind_of(kind, "show")
        info = api.show(k, name)
    except UsageError as e:
        fail(e)
    if as_json:
        out.print_json(json.dumps(info, default=str))
        return
    out.print(render.component(out, k, info))
