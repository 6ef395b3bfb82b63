"""The ``dinsos`` command: its groups and commands, each defined in a module of its own."""

from __future__ import annotations

import typer

from cli import changes, clients, database, imports, serve, worker

app = typer.Typer(
    help="Operate the Dinsos data exchange.",
    no_args_is_help=True,
    # Click's plain help: rich's tables label every flag `<bool>`, and importing rich is slow.
    rich_markup_mode=None,
)
app.command()(serve.serve)
app.command()(database.demo)
app.command("migrate")(database.migrate)
app.command("prune-changes")(changes.prune_changes)
app.command()(worker.worker)
app.add_typer(clients.app, name="clients")
app.add_typer(imports.app, name="import")
