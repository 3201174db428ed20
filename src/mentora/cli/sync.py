"""`mentora sync`: reconcile local membership state with Whop's API, now."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from mentora.cli.common import run
from mentora.cli.services import command_settings, with_services
from mentora.db.models import SyncRun
from mentora.services import Services
from mentora.usecases.sync import SyncResult, reconcile

app = typer.Typer(help="Reconciliation with Whop's API.", no_args_is_help=True)


@app.command("run")
def run_sync(
    user: Annotated[str | None, typer.Option(help="Only this Whop user id (user_...).")] = None,
    progress: Annotated[
        bool, typer.Option(help="Show a progress line on stderr (the report stays on stdout).")
    ] = True,
) -> None:
    """Read memberships from Whop, repair local state, print the report; exit 1 unless ok.

    Pages through every membership of each creator, waiting as Whop asks on 429.
    """
    console = Console(stderr=True)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # Off a terminal (a pipe, a log file, cron) the line is noise: an empty one is left.
        disable=not progress or not console.is_terminal,
    )
    task = bar.add_task("reading memberships from Whop", total=None)

    def on_page(company_id: str, seen: int) -> None:
        bar.update(task, description=f"{company_id}: {seen} memberships read")

    async def action(services: Services) -> SyncResult:
        return await reconcile(services, trigger="manual", user_id=user, on_page=on_page)

    with bar:
        result = run(with_services(command_settings(), action))
    typer.echo(
        json.dumps(
            {"run": result.run_id, "outcome": result.outcome, **result.report.as_json()}, indent=2
        )
    )
    if result.outcome != "ok":
        raise typer.Exit(1)


@app.command()
def history(limit: Annotated[int, typer.Option(min=1, max=500)] = 10) -> None:
    """The latest runs and what each changed."""

    async def action(services: Services) -> list[SyncRun]:
        async with services.sessionmaker() as db:
            statement = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
            return list((await db.execute(statement)).scalars())

    table = Table(
        "run", "started", "trigger", "outcome", "seen", "created", "corrected", "missing", "error"
    )
    for row in run(with_services(command_settings(), action)):
        report = row.report or {}
        table.add_row(
            str(row.id),
            row.started_at.isoformat(timespec="seconds"),
            row.trigger,
            row.outcome,
            *(str(report.get(k, "")) for k in ("seen", "created", "corrected", "missing")),
            str(report.get("error") or "")[:50],
        )
    Console().print(table)
