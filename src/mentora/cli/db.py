"""`mentora db`: database migrations."""

from __future__ import annotations

import typer

from mentora.cli.common import current_clock, run, settings_or_exit

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database named by DATABASE_URL to the newest schema, then make sure the
    creator named by WHOP_COMPANY_ID exists."""
    settings = settings_or_exit()
    from mentora.db.migrate import upgrade as do_upgrade

    do_upgrade(settings.database_url, revision)
    run(_seed(settings))
    typer.echo(f"database at {revision}")


async def _seed(settings: object) -> None:
    from mentora.config import Settings
    from mentora.creators import ensure_configured_creator
    from mentora.services import build_services

    assert isinstance(settings, Settings)
    services = build_services(settings, clock=current_clock())
    try:
        await ensure_configured_creator(services)
    finally:
        await services.aclose()


@app.command()
def current() -> None:
    """Print the revision the database is at and the newest one this code ships."""
    settings = settings_or_exit()
    from mentora.db.migrate import current_revision, head_revision

    typer.echo(f"current: {current_revision(settings.database_url)}  head: {head_revision()}")
