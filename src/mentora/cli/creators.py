"""`mentora creators`: the creators Mentora serves, named as Whop names them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mentora.cli.common import run
from mentora.cli.services import command_settings, with_services
from mentora.creators import ProfileRefresh, refresh_profiles
from mentora.services import Services

app = typer.Typer(help="Creators (Whop companies) and their names.", no_args_is_help=True)


@app.command()
def refresh(
    company: Annotated[
        list[str] | None, typer.Option(help="Only this company id (biz_...); repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read each creator's name, route and logo from Whop now; exit 1 if Whop could not say."""

    async def action(services: Services) -> list[ProfileRefresh]:
        return await refresh_profiles(services, company_ids=company)

    results = run(with_services(command_settings(), action))
    if as_json:
        rows = [{"company_id": r.company_id, "name": r.name, "error": r.error} for r in results]
        typer.echo(json.dumps(rows, indent=2))
    else:
        for result in results:
            if result.error:
                typer.echo(f"{result.company_id}: kept {result.name!r}; Whop: {result.error}")
            else:
                typer.echo(f"{result.company_id}: {result.name}")
    if any(result.error for result in results):
        raise typer.Exit(1)
