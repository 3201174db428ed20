"""Delivery rows: the race-free claim on `webhook-id`, lookups for operators, pruning (W10, W11).

Only headers that help an operator are kept; the signature never is (L02).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.db.insert import insert_ignore, insert_ignore_rows
from mentora.db.models import WebhookDelivery
from mentora.webhooks.envelope import Envelope
from mentora.webhooks.status import FINISHED, DeliveryStatus
from mentora.webhooks.verify import VerifiedDelivery

KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "content-type", "user-agent")
DELIVERIES = cast(Table, WebhookDelivery.__table__)
# Built once: building a statement cost more per batch than running it. The row ids come as
# one expanding list, not one parameter set per row: a batch's rows mostly end alike, and
# every parameter set of an executemany is built and converted on its own.
_FINISH_BY_IDS = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("row_ids", expanding=True)))
    .values(
        status=bindparam("new_status"),
        processed_at=bindparam("now"),
        next_attempt_at=None,
        last_error=None,
    )
)


Claim = tuple[VerifiedDelivery, Envelope, Mapping[str, str]]


def _row(
    claim: Claim, *, now: datetime, attempts: int, assumed: str | None = None
) -> dict[str, object]:
    delivery, envelope, headers = claim
    # One pass over the headers (each lookup in Starlette's Headers is a scan); the first of
    # repeated headers wins, as in a lookup. A plain dict (intake's) has none repeated.
    present = headers if isinstance(headers, dict) else dict(reversed(list(headers.items())))
    kept = {name: present[name][:200] for name in KEPT_HEADERS if name in present}
    kept["scheme"] = delivery.scheme
    return {
        "webhook_id": delivery.webhook_id,
        "event_type": envelope.event_type,
        "company_id": (envelope.company_id or "")[:64] or None,
        "body": delivery.body.decode("utf-8"),
        "headers": kept,
        "status": assumed or DeliveryStatus.RECEIVED,
        "attempts": attempts,
        "received_at": now,
        "processed_at": now if assumed else None,
    }


async def claim(
    db: AsyncSession,
    delivery: VerifiedDelivery,
    envelope: Envelope,
    headers: Mapping[str, str],
    *,
    now: datetime,
    attempts: int = 0,
) -> WebhookDelivery | None:
    """Insert the delivery; None when its `webhook-id` is already stored (a duplicate).

    INSERT … ON CONFLICT DO NOTHING: of N concurrent copies exactly one gets the row, and
    the others neither fail nor wait for a check-then-insert that could race. RETURNING
    hands back the whole row as an ORM object, so claiming is one statement. `attempts`
    lets intake count the attempt it is about to make in the same INSERT.
    """
    values = _row((delivery, envelope, headers), now=now, attempts=attempts)
    statement = insert_ignore(db, WebhookDelivery, values, conflict_on=["webhook_id"])
    return (await db.scalars(statement.returning(WebhookDelivery))).one_or_none()


async def claim_many(
    db: AsyncSession,
    claims: Sequence[Claim],
    *,
    now: datetime,
    attempts: int = 0,
    assumed: str | None = None,
) -> dict[str, int]:
    """`claim` for deliveries with distinct ids in one statement; row ids of those won, by id.

    Core rows, not ORM objects: a batch updates them with `finish_many`. `assumed`: the
    status the rows are stored with, processed at `now`, by a caller that applies their
    effects in the same transaction and then passes the same `assumed` to `finish_many`,
    which updates only the rows that ended otherwise. Nothing is visible before the commit,
    and a rollback takes the rows with it, so no reader sees a status that did not happen.
    """
    dialect = db.get_bind().dialect.name
    statement = insert_ignore_rows(
        dialect, DELIVERIES, ("webhook_id",), returning=("id", "webhook_id")
    )
    result = await db.execute(
        statement,
        [_row(claim, now=now, attempts=attempts, assumed=assumed) for claim in claims],
    )
    return {webhook_id: row_id for row_id, webhook_id in result.all()}


async def finish_many(
    db: AsyncSession,
    statuses: Sequence[tuple[int, str]],
    *,
    now: datetime,
    assumed: str | None = None,
) -> None:
    """Mark claimed rows (by row id) as ended with their status: one statement per status,
    none for the rows claimed with `assumed` that ended so (a batch whose deliveries all
    ended `processed`, claimed as such, needs no statement)."""
    by_status: dict[str, list[int]] = {}
    for row_id, status in statuses:
        if status != assumed:
            by_status.setdefault(status, []).append(row_id)
    for status, row_ids in by_status.items():
        await db.execute(_FINISH_BY_IDS, {"row_ids": row_ids, "new_status": status, "now": now})


async def find(db: AsyncSession, webhook_id: str, *, lock: bool = False) -> WebhookDelivery | None:
    """One delivery by Whop's `webhook-id` (locked for update when asked)."""
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one_or_none()


async def recent(
    db: AsyncSession, *, statuses: Sequence[str] = (), limit: int = 50
) -> list[WebhookDelivery]:
    """The newest deliveries, optionally only those in `statuses`."""
    statement = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if statuses:
        statement = statement.where(WebhookDelivery.status.in_(statuses))
    return list((await db.execute(statement)).scalars().all())


async def prune(db: AsyncSession, *, now: datetime, keep_days: int) -> int:
    """Delete finished deliveries older than `keep_days`; failed and dead ones stay."""
    cutoff = now - timedelta(days=keep_days)
    result = await db.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status.in_(FINISHED), WebhookDelivery.received_at < cutoff
        )
    )
    return int(getattr(result, "rowcount", 0))
