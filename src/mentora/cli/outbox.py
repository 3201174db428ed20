"""`mentora outbox`: queued emails and alerts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update

from mentora.cli.common import fail, run
from mentora.cli.services import command_settings, with_services
from mentora.db.models import OutboxMessage
from mentora.db.uow import transaction
from mentora.outbox.delivery import DeliveryReport, deliver_due
from mentora.outbox.mailer import build_mailer
from mentora.services import Services

app = typer.Typer(help="Queued emails and alerts.", no_args_is_help=True)


class MessageStatus(StrEnum):
    """The lifecycle of a queued message (models/outbox.py); anything else is a typo."""

    pending = "pending"
    sent = "sent"
    dead = "dead"


@app.command("list")
def list_messages(
    status: Annotated[MessageStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Show the newest messages (addresses included: this is an operator tool)."""

    async def action(services: Services) -> list[OutboxMessage]:
        statement = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            statement = statement.where(OutboxMessage.status == str(status))
        async with services.sessionmaker() as db:
            return list((await db.execute(statement)).scalars())

    table = Table("id", "created", "template", "to", "status", "attempts", "last error")
    for row in run(with_services(command_settings(), action)):
        table.add_row(
            str(row.id),
            row.created_at.isoformat(timespec="seconds"),
            row.template,
            row.recipient,
            row.status,
            str(row.attempts),
            (row.last_error or "")[:50],
        )
    Console().print(table)


@app.command()
def send() -> None:
    """Send every due message now (what the worker does on each pass)."""

    async def action(services: Services) -> DeliveryReport:
        return await deliver_due(services, build_mailer(services.settings))

    report = run(with_services(command_settings(), action))
    typer.echo(f"sent: {report.sent}, retrying: {report.retried}, dead: {report.dead}")


@app.command()
def retry(message_id: Annotated[int, typer.Argument(help="The message's id.")]) -> None:
    """Put a dead message back in the queue with a fresh set of attempts."""

    async def action(services: Services) -> int:
        async with transaction(services.sessionmaker, write=True) as db:
            result = await db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.status == "dead")
                .values(status="pending", attempts=0, next_attempt_at=services.clock.now())
            )
            return int(getattr(result, "rowcount", 0))

    if not run(with_services(command_settings(), action)):
        fail(f"no dead message with id {message_id}")
    typer.echo(f"message {message_id} queued again")
