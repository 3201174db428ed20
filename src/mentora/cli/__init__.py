"""The `mentora` command: one Typer sub-app per noun, each in its own module."""

from __future__ import annotations

import typer

from mentora.cli import emulator as emulator_cli

app = typer.Typer(
    name="mentora",
    help="Mentora's front door: Sign in with Whop, membership gating and Whop webhooks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(emulator_cli.app, name="emulator")


def main() -> None:
    """Run the `mentora` command line."""
    app()
