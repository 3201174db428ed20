"""`mentora creators`: the creators Mentora serves, named as Whop names them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mentora.cli.common import fail, run
from mentora.cli.services import command_settings, with_services
from mentora.cli.sessions import cli_actor
from mentora.creators import CreatorNotFound, ProfileRefresh, refresh_profiles, set_alert_email
from mentora.services import Services

app = typer.Typer(help="Creators (Whop companies): their names and settings.", no_args_is_help=True)


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


@app.command("set")
def set_(
    company_id: Annotated[str, typer.Argument(help="The creator's company id (biz_...).")],
    alert_email: Annotated[
        str,
        typer.Option(
            help="Where this creator's alerts go (failed payments, dispute alerts, dead "
            "deliveries); an empty value goes back to CREATOR_ALERT_EMAIL."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change a creator's settings (its alert address); recorded in the audit trail."""
    address = alert_email.strip() or None

    async def action(services: Services) -> str | None:
        return await set_alert_email(services, company_id, address, actor=cli_actor())

    try:
        now_to = run(with_services(command_settings(), action))
    except CreatorNotFound:
        fail(f"no creator for company {company_id} (see `mentora creators refresh`)")
    except ValueError as exc:
        fail(str(exc), 2)
    if as_json:
        typer.echo(
            json.dumps({"company_id": company_id, "alert_email": address, "alerts_to": now_to})
        )
    else:
        typer.echo(f"{company_id}: alerts go to {now_to or 'nobody (log only)'}")
