"""`mentora db`: database migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mentora.cli.common import current_clock, fail, run, settings_or_exit
from mentora.cli.services import command_settings

if TYPE_CHECKING:
    from mentora.creators import ProfileRefresh

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database named by DATABASE_URL to the newest schema, then make sure the
    creator named by WHOP_COMPANY_ID exists, named as Whop names it."""
    # Logging configured as in every command: migration and Whop logs go to this stderr.
    settings = command_settings()
    from sqlalchemy.exc import SQLAlchemyError

    from mentora.db.engine import describe_error
    from mentora.db.migrate import upgrade as do_upgrade

    try:
        do_upgrade(settings.database_url, revision)
    except SQLAlchemyError as exc:
        fail(f"database: {describe_error(exc, settings.database_url)}")
    for profile in run(_seed(settings)):
        if profile.error:
            # Not fatal: the schema is current; the name follows at the next sync.
            typer.secho(
                f"warning: {profile.company_id} keeps the name {profile.name!r}: Whop said "
                f"{profile.error}; run `mentora creators refresh` once Whop answers",
                fg=typer.colors.YELLOW,
                err=True,
            )
        else:
            typer.echo(f"creator {profile.company_id}: {profile.name}")
    typer.echo(f"database at {revision}")


async def _seed(settings: object) -> list[ProfileRefresh]:
    from mentora.config import Settings
    from mentora.creators import ensure_configured_creator, refresh_profiles
    from mentora.services import build_services

    assert isinstance(settings, Settings)
    services = build_services(settings, clock=current_clock())
    try:
        creator = await ensure_configured_creator(services)
        return await refresh_profiles(services, company_ids=[creator.whop_company_id])
    finally:
        await services.aclose()


@app.command()
def current() -> None:
    """Print the revision the database is at and the newest one this code ships."""
    settings = settings_or_exit()
    from mentora.db.migrate import current_revision, head_revision

    typer.echo(f"current: {current_revision(settings.database_url)}  head: {head_revision()}")
