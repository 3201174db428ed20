"""The `mentora` command: one Typer sub-app per noun, each in its own module."""

from __future__ import annotations

import typer

from mentora.cli import db as db_cli
from mentora.cli import emulator as emulator_cli
from mentora.cli import serve as serve_cli

app = typer.Typer(
    name="mentora",
    help="Mentora's front door: Sign in with Whop, membership gating and Whop webhooks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("dev")(serve_cli.dev)
app.command("serve")(serve_cli.serve)
app.add_typer(db_cli.app, name="db")
app.add_typer(emulator_cli.app, name="emulator")


def main() -> None:
    """Run the `mentora` command line."""
    app()
