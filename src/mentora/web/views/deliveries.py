"""A creator's webhook deliveries: status and type filters, id search, keyset pages, counts.

Deliveries belong to a creator through the Whop company id they name (`company_id`); those
naming no company or another one never appear. Rows are read without their body or headers,
and the list walks ix_webhook_delivery_company_received (or _company_status when filtered by
status) newest first, so a page costs the same at the start of 100,000 rows as deep inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from mentora.db.models import WebhookDelivery
from mentora.services import Services
from mentora.web.views.paging import UnknownCursor, older_than
from mentora.webhooks.handlers import HANDLERS
from mentora.webhooks.status import NEEDS_ACTION, DeliveryStatus

STATUSES: tuple[str, ...] = (
    DeliveryStatus.FAILED,
    DeliveryStatus.DEAD,
    DeliveryStatus.PROCESSED,
    DeliveryStatus.IGNORED,
    DeliveryStatus.FLAGGED,
    DeliveryStatus.RECEIVED,
)
# Statuses a creator is expected to act on: the replay button is primary for these.
EVENT_TYPES: tuple[str, ...] = tuple(sorted(HANDLERS))
ERROR_PREVIEW = 300
PREFIX_END = "\U0010ffff"  # sorts after every character an id can hold


@dataclass(frozen=True)
class DeliveryQuery:
    """What the page asks for (already validated by the route)."""

    status: str | None = None
    event_type: str | None = None
    q: str | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery without its payload."""

    id: int
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    next_attempt_at: datetime | None

    @property
    def needs_action(self) -> bool:
        """True for failed and dead deliveries."""
        return self.status in NEEDS_ACTION


@dataclass(frozen=True)
class DeliveryPage:
    """One page of deliveries, the cursor to the next one, and counts by status."""

    rows: list[DeliveryRow]
    next_before: int | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Every delivery of the creator, whatever the filter."""
        return sum(self.counts.values())


def _conditions(company_id: str, query: DeliveryQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [WebhookDelivery.company_id == company_id]
    if query.status:
        where.append(WebhookDelivery.status == query.status)
    if query.event_type:
        where.append(WebhookDelivery.event_type == query.event_type)
    if query.q:
        # A prefix as a range, so the unique index on webhook_id can serve it.
        where.append(WebhookDelivery.webhook_id >= query.q)
        where.append(WebhookDelivery.webhook_id < query.q + PREFIX_END)
    return where


async def status_counts(services: Services, company_id: str) -> dict[str, int]:
    """How many deliveries of the company are in each status (a covering index scan)."""
    async with services.sessionmaker() as db:
        result = await db.execute(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.company_id == company_id)
            .group_by(WebhookDelivery.status)
        )
        return {status: count for status, count in result.all()}


async def delivery_page(services: Services, company_id: str, query: DeliveryQuery) -> DeliveryPage:
    """One page of the company's deliveries, newest first; raises UnknownCursor."""
    where = _conditions(company_id, query)
    columns: list[Any] = [
        WebhookDelivery.id,
        WebhookDelivery.webhook_id,
        WebhookDelivery.event_type,
        WebhookDelivery.status,
        WebhookDelivery.attempts,
        func.substr(WebhookDelivery.last_error, 1, ERROR_PREVIEW),
        WebhookDelivery.received_at,
        WebhookDelivery.processed_at,
        WebhookDelivery.next_attempt_at,
    ]
    async with services.sessionmaker() as db:
        if query.before is not None:
            anchor = (
                await db.execute(
                    select(WebhookDelivery.received_at).where(
                        WebhookDelivery.id == query.before,
                        WebhookDelivery.company_id == company_id,
                    )
                )
            ).scalar_one_or_none()
            if anchor is None:
                raise UnknownCursor(str(query.before))
            where.append(
                older_than(WebhookDelivery.received_at, WebhookDelivery.id, anchor, query.before)
            )
        found = (
            await db.execute(
                select(*columns)
                .where(*where)
                .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc())
                .limit(query.limit + 1)
            )
        ).all()
    rows = [
        DeliveryRow(
            id=r[0],
            webhook_id=r[1],
            event_type=r[2],
            status=r[3],
            attempts=r[4],
            last_error=r[5],
            received_at=r[6],
            processed_at=r[7],
            next_attempt_at=r[8],
        )
        for r in found[: query.limit]
    ]
    next_before = rows[-1].id if len(found) > query.limit else None
    return DeliveryPage(rows, next_before, await status_counts(services, company_id))


async def replayable_ids(services: Services, company_id: str, limit: int) -> list[str]:
    """Failed and dead deliveries of the company, oldest first (what "reprocess" replays)."""
    async with services.sessionmaker() as db:
        result = await db.execute(
            select(WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.company_id == company_id,
                WebhookDelivery.status.in_(tuple(NEEDS_ACTION)),
            )
            .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
            .limit(limit)
        )
        return list(result.scalars())


async def belongs_to(services: Services, company_id: str, webhook_id: str) -> bool:
    """True when the delivery exists and names the company (the replay button's scope check)."""
    async with services.sessionmaker() as db:
        found = await db.execute(
            select(WebhookDelivery.id).where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.company_id == company_id,
            )
        )
        return found.scalar_one_or_none() is not None
