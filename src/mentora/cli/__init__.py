"""The `mentora` command: one Typer sub-app per noun, each in its own module."""

from __future__ import annotations

import typer

from mentora.cli import audit as audit_cli
from mentora.cli import creators as creators_cli
from mentora.cli import db as db_cli
from mentora.cli import doctor as doctor_cli
from mentora.cli import emulator as emulator_cli
from mentora.cli import emulator_tenants  # noqa: F401  (adds its commands to `emulator`)
from mentora.cli import keys as keys_cli
from mentora.cli import outbox as outbox_cli
from mentora.cli import serve as serve_cli
from mentora.cli import sessions as sessions_cli
from mentora.cli import sync as sync_cli
from mentora.cli import webhooks as webhooks_cli
from mentora.cli import worker as worker_cli
from mentora.cli.common import OneLineErrors, use_context

app = typer.Typer(
    name="mentora",
    help="Mentora's front door: Sign in with Whop, membership gating and Whop webhooks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Mentora's front door: Sign in with Whop, membership gating and Whop webhooks."""
    use_context(ctx.obj)


app.command("dev")(serve_cli.dev)
app.command("serve")(serve_cli.serve)
app.add_typer(db_cli.app, name="db")
app.add_typer(emulator_cli.app, name="emulator")
app.add_typer(sessions_cli.app, name="sessions")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(sync_cli.app, name="sync")
app.add_typer(creators_cli.app, name="creators")
app.command("worker")(worker_cli.worker)
app.command("doctor")(doctor_cli.doctor)


def main() -> None:
    """Run the `mentora` command line."""
    app()
