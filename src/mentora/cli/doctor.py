"""`mentora doctor`: check this configuration, its database and the Whop it points at."""

from __future__ import annotations

import json
from typing import Annotated

import httpx
import typer

from mentora.cli.common import current_clock, run, settings_or_exit
from mentora.config import Settings
from mentora.doctor import Check, diagnose
from mentora.logging import configure_logging
from mentora.whop.client import WhopClient


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Check the settings, the database (reachable, migrations at head) and Whop (discovery,
    keys, permissions, company, webhook secret, redirect URI, clock), changing nothing; one row
    per check, exit 1 on any ✘."""
    # Unchecked: a refused setting is one row of the report, not the end of it.
    settings = settings_or_exit(check=False)
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    checks = run(_diagnose(settings))
    if as_json:
        typer.echo(json.dumps([c.as_json() for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            line = f"{'✔' if c.ok else '✘'} {c.name:<{width}}  {c.detail}"
            typer.echo(line if c.ok else f"{line}  → fix: {c.fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


async def _diagnose(settings: Settings) -> list[Check]:
    timeout = settings.whop_http_timeout_seconds
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        whop = WhopClient(
            api_base_url=_api_base(settings),
            api_key=settings.whop_api_key.get_secret_value(),
            http=http,
            timeout=timeout,
        )
        return await diagnose(settings, http=http, whop=whop, now=current_clock().now())


def _api_base(settings: Settings) -> str:
    try:
        return settings.api_base_url
    except KeyError:  # WHOP_ENV names no preset; the settings row reports it
        return ""
