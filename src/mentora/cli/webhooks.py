"""`mentora webhooks`: look at stored deliveries, replay them, prune old ones."""

from __future__ import annotations

import json
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
from mentora.webhooks.status import NEEDS_ACTION, DeliveryStatus

app = typer.Typer(help="Stored Whop webhook deliveries.", no_args_is_help=True)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _as_json(row: WebhookDelivery, *, body: bool = False) -> dict[str, object]:
    data: dict[str, object] = {
        "webhook_id": row.webhook_id,
        "type": row.event_type,
        "company_id": row.company_id,
        "status": row.status,
        "attempts": row.attempts,
        "received_at": row.received_at.isoformat(),
        "processed_at": row.processed_at.isoformat() if row.processed_at else None,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "last_error": row.last_error,
    }
    if body:
        data["headers"] = row.headers
        data["body"] = row.body
    return data


@app.command("list")
def list_deliveries(
    status: Annotated[
        list[DeliveryStatus] | None, typer.Option(help="Only these statuses.")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed and dead ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show the newest deliveries (e.g. `--status failed --status dead`, or `--failed`)."""
    statuses = tuple(str(given) for given in status or ()) + (tuple(NEEDS_ACTION) if failed else ())

    async def action(services: Services) -> list[WebhookDelivery]:
        async with services.sessionmaker() as db:
            return await store.recent(db, statuses=statuses, limit=limit)

    rows = run(with_services(command_settings(), action))
    if as_json:
        typer.echo(json.dumps([_as_json(row) for row in rows], indent=2))
        return
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
def show(
    webhook_id: Annotated[str, typer.Argument(help="Whop's webhook-id.")],
    as_json: JsonOption = False,
) -> None:
    """One stored delivery: status, attempts, last error, kept headers and the raw body."""

    async def action(services: Services) -> WebhookDelivery | None:
        async with services.sessionmaker() as db:
            return await store.find(db, webhook_id)

    row = run(with_services(command_settings(), action))
    if row is None:
        fail(f"no delivery with webhook-id {webhook_id}", 2)
    data = _as_json(row, body=True)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        typer.echo(f"{key:>16}: {value}")


@app.command()
def replay(
    webhook_id: Annotated[str, typer.Argument(help="Whop's webhook-id.")],
    as_json: JsonOption = False,
) -> None:
    """Process one stored delivery again now (after fixing why it failed)."""
    status = run(with_services(command_settings(), lambda s: replay_delivery(s, webhook_id)))
    if status is None:
        fail(f"no delivery with webhook-id {webhook_id}", 2)
    if as_json:
        typer.echo(json.dumps({"webhook_id": webhook_id, "status": status}))
    else:
        typer.echo(f"{webhook_id}: {status}")
    if status in NEEDS_ACTION:
        raise typer.Exit(1)


@app.command()
def reprocess(
    failed: Annotated[
        bool, typer.Option("--failed", help="Replay the failed (and dead) ones: the default.")
    ] = True,
    dead: Annotated[bool, typer.Option(help="Include dead deliveries.")] = True,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Replay every failed (and dead) delivery now, oldest first (`--failed`)."""
    del failed  # the only selection today; the flag keeps `reprocess --failed` explicit

    async def action(services: Services) -> dict[str, int]:
        async with services.sessionmaker() as db:
            rows = await store.recent(
                db, statuses=tuple(NEEDS_ACTION) if dead else (DeliveryStatus.FAILED,), limit=limit
            )
        counts: dict[str, int] = {}
        for row in reversed(rows):
            status = await replay_delivery(services, row.webhook_id) or "gone"
            counts[status] = counts.get(status, 0) + 1
        return counts

    counts = run(with_services(command_settings(), action))
    if as_json:
        typer.echo(json.dumps(counts))
        return
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to do")


@app.command()
def prune(days: Annotated[int, typer.Option(min=1, help="Keep this many days.")] = 30) -> None:
    """Delete finished deliveries older than `--days` (failed and dead ones are kept)."""

    async def action(services: Services) -> int:
        async with transaction(services.sessionmaker, write=True) as db:
            return await store.prune(db, now=services.clock.now(), keep_days=days)

    typer.echo(f"deleted {run(with_services(command_settings(), action))} deliveries")
