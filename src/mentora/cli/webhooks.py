"""`mentora webhooks`: look at stored deliveries, replay them, prune old ones."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mentora.cli.common import fail, run
from mentora.cli.services import command_settings, with_services
from mentora.db.models import WebhookDelivery
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.webhooks import store
from mentora.webhooks.process import replay as replay_delivery

app = typer.Typer(help="Stored Whop webhook deliveries.", no_args_is_help=True)


@app.command("list")
def list_deliveries(
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Show the newest deliveries (e.g. `--status failed --status dead`)."""

    async def action(services: Services) -> list[WebhookDelivery]:
        async with services.sessionmaker() as db:
            return await store.recent(db, statuses=status or (), limit=limit)

    rows = run(with_services(command_settings(), action))
    table = Table("received", "webhook id", "type", "status", "attempts", "last error")
    for row in rows:
        table.add_row(
            row.received_at.isoformat(timespec="seconds"),
            row.webhook_id,
            row.event_type,
            row.status,
            str(row.attempts),
            (row.last_error or "")[:60],
        )
    Console().print(table)


@app.command()
def replay(webhook_id: Annotated[str, typer.Argument(help="Whop's webhook-id.")]) -> None:
    """Process one stored delivery again now (after fixing why it failed)."""
    status = run(with_services(command_settings(), lambda s: replay_delivery(s, webhook_id)))
    if status is None:
        fail(f"no delivery with webhook-id {webhook_id}")
    typer.echo(f"{webhook_id}: {status}")
    if status in ("failed", "dead"):
        raise typer.Exit(1)


@app.command()
def reprocess(
    dead: Annotated[bool, typer.Option(help="Include dead deliveries.")] = True,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
) -> None:
    """Replay every failed (and dead) delivery now, oldest first."""

    async def action(services: Services) -> dict[str, int]:
        async with services.sessionmaker() as db:
            rows = await store.recent(
                db, statuses=("failed", "dead") if dead else ("failed",), limit=limit
            )
        counts: dict[str, int] = {}
        for row in reversed(rows):
            status = await replay_delivery(services, row.webhook_id) or "gone"
            counts[status] = counts.get(status, 0) + 1
        return counts

    counts = run(with_services(command_settings(), action))
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to do")


@app.command()
def prune(days: Annotated[int, typer.Option(min=1, help="Keep this many days.")] = 30) -> None:
    """Delete finished deliveries older than `--days` (failed and dead ones are kept)."""

    async def action(services: Services) -> int:
        async with transaction(services.sessionmaker, write=True) as db:
            return await store.prune(db, now=services.clock.now(), keep_days=days)

    typer.echo(f"deleted {run(with_services(command_settings(), action))} deliveries")
